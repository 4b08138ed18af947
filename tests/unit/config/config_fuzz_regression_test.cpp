// Inputs found by tests/fuzz/config_fuzzer.cpp, kept as unit tests once fixed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using namespace outbox_relay::config::test_support;

// An unknown variable far longer than any configuration key gets no suggestion, and no
// distance table against each known name: a 1 MiB name used to allocate a million-row table
// per known variable, tens of gigabytes in all, and long names dominated the fuzzer's time.
TEST(ConfigFuzzRegressionTest, HugeUnknownVariableIsRejectedWithoutASuggestion) {
  const std::string variable = "OUTBOX_RELAY_" + std::string(1 << 20, 'X');
  const ConfigError error = ErrorFrom(kMinimal, {{variable, "1"}});
  EXPECT_EQ(error.key(), variable);
  EXPECT_THAT(error.what(), Not(HasSubstr("did you mean")));
}

// A variable of a million words is no service link and no key: the service-link shapes are
// tried at each word as views, not copies of the remaining words (which would be quadratic).
TEST(ConfigFuzzRegressionTest, VariableOfManyWordsIsRejectedInLinearTime) {
  std::string variable = "OUTBOX_RELAY";
  for (int i = 0; i < (1 << 20); ++i) variable += "_P";
  const ConfigError error = ErrorFrom(kMinimal, {{variable, "tcp://10.0.0.1:1"}});
  EXPECT_EQ(error.key(), variable);
  EXPECT_THAT(error.what(), HasSubstr("matches no configuration key"));
}

// A stray ',' where a document's node belongs is invalid YAML, reported with its place.
// yaml-cpp's LoadAll never got past it: it read null documents until memory ran out.
TEST(ConfigFuzzRegressionTest, StrayCommaIsInvalidYamlNotAHang) {
  for (const char* text : {",", ", a", ",\nsource:\n  dsn: x\n"}) {
    SCOPED_TRACE(text);
    const ConfigError error = ErrorFrom(text);
    EXPECT_EQ(error.key(), "config");
    EXPECT_THAT(error.what(), HasSubstr("invalid YAML at line 1, column 1: unexpected ','"));
  }
  // After a node yaml-cpp reads the ',' as the start of a second document, which is refused
  // before the loop can begin.
  for (const char* text : {"!!str ,", "&anchor ,", "--- ,"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(ErrorFrom(text).key(), "config");
  }
}

}  // namespace
}  // namespace outbox_relay::config
