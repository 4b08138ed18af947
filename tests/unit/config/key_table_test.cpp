// The key table (config/key_table.cpp): a bad value of any key fails naming that key and saying
// what was expected. The rows are in each section's test file (source_keys_test.cpp, ...).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

using namespace outbox_relay::config::test_support;

// Each bad value fails naming its own key and saying what was expected.
TEST_P(BadValueTest, NamesTheKey) {
  const ConfigError error = ErrorFrom(WithDsn(GetParam().yaml));
  EXPECT_EQ(error.key(), GetParam().key) << error.what();
  EXPECT_THAT(error.what(), HasSubstr(GetParam().expect_text));
}

}  // namespace
}  // namespace outbox_relay::config
