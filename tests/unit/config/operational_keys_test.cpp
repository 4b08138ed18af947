// The operational keys (config/operational_keys.cpp): flow.*, log.*, http.listen, heartbeat.*,
// wal_guard.*, ready.*, shutdown.*, one bad value per row. Ranges, rules between keys and the
// environment: ops_config_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using namespace outbox_relay::config::test_support;

// Each operational key's bad value names the key (BadValueTest, key_table_test.cpp).
INSTANTIATE_TEST_SUITE_P(
    OperationalKeys, BadValueTest,
    ::testing::Values(
        BadValue{"flow:\n  max_in_flight_events: 0\n", "flow.max_in_flight_events",
                 "at least 1"},
        BadValue{"flow:\n  max_in_flight_events: many\n", "flow.max_in_flight_events",
                 "integer"},
        BadValue{"flow:\n  max_in_flight_bytes: 1023\n", "flow.max_in_flight_bytes",
                 "at least 1024"},
        BadValue{"flow:\n  max_in_flight_bytes: 99999999999999999999999\n",
                 "flow.max_in_flight_bytes", "out of range"},
        BadValue{"log:\n  level: verbose\n", "log.level", "trace, debug, info, warn, error"},
        BadValue{"log:\n  format: xml\n", "log.format", "text, json"},
        BadValue{"http:\n  listen: 8080\n", "http.listen", "host:port"},
        BadValue{"http:\n  listen: 0.0.0.0:65536\n", "http.listen", "0 to 65535"},
        BadValue{"heartbeat:\n  interval_ms: often\n", "heartbeat.interval_ms", "integer"},
        BadValue{"heartbeat:\n  interval_ms: 3600001\n", "heartbeat.interval_ms",
                 "between 0 and 3600000"},
        BadValue{"wal_guard:\n  warn_bytes: -1\n", "wal_guard.warn_bytes", "non-negative"},
        BadValue{"wal_guard:\n  warn_bytes: 1GB\n", "wal_guard.warn_bytes", "integer"},
        BadValue{"wal_guard:\n  max_bytes: lots\n", "wal_guard.max_bytes", "integer"},
        BadValue{"wal_guard:\n  max_bytes: 1\n", "wal_guard.max_bytes",
                 "at least wal_guard.warn_bytes"},
        BadValue{"wal_guard:\n  action: panic\n", "wal_guard.action", "alert, stop"},
        BadValue{"wal_guard:\n  poll_interval_ms: 99\n", "wal_guard.poll_interval_ms",
                 "between 100 and 3600000"},
        BadValue{"ready:\n  max_lag_seconds: soon\n", "ready.max_lag_seconds", "integer"},
        BadValue{"ready:\n  max_lag_seconds: 3601\n", "ready.max_lag_seconds", "out of range"},
        BadValue{"shutdown:\n  timeout_ms: 0\n", "shutdown.timeout_ms", "between 1"},
        BadValue{"shutdown:\n  timeout_ms: -1\n", "shutdown.timeout_ms", "non-negative"}));

}  // namespace
}  // namespace outbox_relay::config
