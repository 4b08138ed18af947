// The source.* keys (config/source_keys.cpp). Their TLS and password keys:
// security_config_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

using namespace outbox_relay::config::test_support;

// Without a DSN anywhere the error names source.dsn.
TEST(SourceKeysTest, RequiresDsn) {
  const ConfigError error = ErrorFrom("");
  EXPECT_EQ(error.key(), "source.dsn");
  EXPECT_THAT(error.what(), HasSubstr("required"));
}

// An empty DSN counts as missing.
TEST(SourceKeysTest, RejectsEmptyDsn) {
  EXPECT_EQ(ErrorFrom("source:\n  dsn: ''\n").key(), "source.dsn");
}

// Each source key's bad value names the key (BadValueTest, key_table_test.cpp).
INSTANTIATE_TEST_SUITE_P(
    SourceKeys, BadValueTest,
    ::testing::Values(
        BadValue{"source:\n  slot: My-Slot\n", "source.slot", "lower-case"},
        BadValue{"source:\n  slot: ''\n", "source.slot", "1 to 63"},
        BadValue{"source:\n  slot: " + std::string(64, 'a') + "\n", "source.slot", "1 to 63"},
        BadValue{"source:\n  publication: ''\n", "source.publication", "empty"},
        BadValue{"source:\n  publication: " + std::string(64, 'p') + "\n", "source.publication",
                 "63"},
        BadValue{"source:\n  create_slot: maybe\n", "source.create_slot", "boolean"},
        BadValue{"source:\n  status_interval_ms: abc\n", "source.status_interval_ms",
                 "expected a non-negative integer"},
        BadValue{"source:\n  status_interval_ms: -5\n", "source.status_interval_ms",
                 "non-negative integer"},
        BadValue{"source:\n  status_interval_ms: 10\n", "source.status_interval_ms",
                 "between 100 and 60000"},
        BadValue{"source:\n  status_interval_ms: 1.5\n", "source.status_interval_ms",
                 "integer"},
        BadValue{"source:\n  reconnect_backoff_initial_ms: 0\n",
                 "source.reconnect_backoff_initial_ms", "between 1"},
        BadValue{"source:\n  reconnect_backoff_max_ms: 100\n", "source.reconnect_backoff_max_ms",
                 "at least source.reconnect_backoff_initial_ms"}));

}  // namespace
}  // namespace outbox_relay::config
