#include "relay/pg/sqlstate.hpp"

#include <gtest/gtest.h>

namespace outbox_relay::pg::sqlstate {
namespace {

// A class matches by its first two characters only.
TEST(SqlStateTest, InClassComparesTheFirstTwoCharacters) {
  EXPECT_TRUE(InClass(kUndefinedTable, kClassSyntaxOrAccessRule));
  EXPECT_TRUE(InClass("28P01", kClassInvalidAuthorization));
  EXPECT_FALSE(InClass(kObjectInUse, kClassSyntaxOrAccessRule));
  EXPECT_FALSE(InClass("", kClassDataException));
}

// Credentials, a missing database, a missing object or privilege need the operator; the rest
// (a lost connection, a server shutting down, an unknown state) may pass on a later attempt.
TEST(SqlStateTest, OnlyFailuresTheOperatorMustFixAreNotRetryable) {
  EXPECT_FALSE(IsRetryable("28P01"));  // invalid_password
  EXPECT_FALSE(IsRetryable("3D000"));  // invalid_catalog_name
  EXPECT_FALSE(IsRetryable(kUndefinedTable));
  EXPECT_FALSE(IsRetryable(kInsufficientPrivilege));
  EXPECT_TRUE(IsRetryable("08006"));  // connection_failure
  EXPECT_TRUE(IsRetryable("57P01"));  // admin_shutdown
  EXPECT_TRUE(IsRetryable(kObjectInUse));
  EXPECT_TRUE(IsRetryable(""));  // no SQLSTATE: the connection broke before the server answered
}

}  // namespace
}  // namespace outbox_relay::pg::sqlstate
