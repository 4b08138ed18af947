// KindOfFailure (inbox/inbox_store.cpp): which database failures the inbox retries, which stop
// it as a setup problem, and which are the event's own (the poison policy's).

#include <gtest/gtest.h>

#include <string>

#include "inbox/inbox_store.hpp"

namespace outbox_relay::inbox {
namespace {

struct FailureCase {
  std::string sqlstate;
  FailureKind kind;
  const char* what;
};

class KindOfFailureTest : public ::testing::TestWithParam<FailureCase> {};

TEST_P(KindOfFailureTest, Classifies) {
  EXPECT_EQ(KindOfFailure(GetParam().sqlstate), GetParam().kind)
      << "SQLSTATE '" << GetParam().sqlstate << "': " << GetParam().what;
}

INSTANTIATE_TEST_SUITE_P(
    Sqlstates, KindOfFailureTest,
    ::testing::Values(FailureCase{"", FailureKind::kTransient, "no SQLSTATE: the connection broke"},
                      FailureCase{"40001", FailureKind::kTransient, "serialization failure"},
                      FailureCase{"40P01", FailureKind::kTransient, "deadlock"},
                      FailureCase{"08006", FailureKind::kTransient, "connection failure"},
                      FailureCase{"53300", FailureKind::kTransient, "too many connections"},
                      FailureCase{"57P01", FailureKind::kTransient, "admin shutdown (a restart)"},
                      FailureCase{"55P03", FailureKind::kTransient, "lock not available"},
                      FailureCase{"28P01", FailureKind::kSetup, "bad password"},
                      FailureCase{"3D000", FailureKind::kSetup, "no such database"},
                      FailureCase{"42883", FailureKind::kSetup, "undefined function"},
                      FailureCase{"42501", FailureKind::kSetup, "insufficient privilege"},
                      FailureCase{"3F000", FailureKind::kSetup, "no such schema"},
                      FailureCase{"P0001", FailureKind::kEvent, "RAISE EXCEPTION in a handler"},
                      FailureCase{"23505", FailureKind::kEvent, "a handler's unique violation"},
                      FailureCase{"22P02", FailureKind::kEvent, "invalid text representation"}));

}  // namespace
}  // namespace outbox_relay::inbox
