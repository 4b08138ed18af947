// The operational keys: flow control (flow.*), logging (log.*), the HTTP endpoint
// (http.listen), heartbeats, the WAL guard, readiness, high availability and shutdown.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config::detail {
namespace {

constexpr std::size_t kMinInFlightBytes = 1024;

Problem CheckLogFormat(const std::string& format, const Config&) {
  if (format == "text" || format == "json") return std::nullopt;
  return "expected one of text, json, got \"" + format + "\"";
}

// host:port with a numeric port; the host may be an IPv4 address or a name.
Problem CheckListen(const std::string& listen, const Config&) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return "expected host:port, for example 127.0.0.1:9742, got \"" + listen + "\"";
  }
  const std::string port = listen.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoul(port) > 65535) {
    return "port must be a number from 0 to 65535, got \"" + port + "\"";
  }
  return std::nullopt;
}

Problem CheckLogLevel(const std::string& level, const Config&) {
  for (std::string_view known : {"trace", "debug", "info", "warn", "error"}) {
    if (level == known) return std::nullopt;
  }
  return "expected one of trace, debug, info, warn, error, got \"" + level + "\"";
}

}  // namespace

std::vector<KeySpec> OperationalKeys() {
  return {
      CountKey(
          "flow.max_in_flight_events", [](auto& c) -> auto& { return c.flow.max_in_flight_events; }, 1),
      CountKey(
          "flow.max_in_flight_bytes", [](auto& c) -> auto& { return c.flow.max_in_flight_bytes; },
          kMinInFlightBytes),
      StringKey(
          "log.level", [](auto& c) -> auto& { return c.log.level; }, CheckLogLevel),
      StringKey(
          "log.format", [](auto& c) -> auto& { return c.log.format; }, CheckLogFormat),
      StringKey(
          "http.listen", [](auto& c) -> auto& { return c.http.listen; }, CheckListen),
      MillisKey(
          "heartbeat.interval_ms", [](auto& c) -> auto& { return c.heartbeat.interval; }, 0, kMaxDurationMs),
      StringKey(
          "heartbeat.dsn", [](auto& c) -> auto& { return c.heartbeat.dsn; }, AnyText),
      CountKey(
          "wal_guard.warn_bytes", [](auto& c) -> auto& { return c.wal_guard.warn_bytes; }, 0),
      CountKey(
          "wal_guard.max_bytes", [](auto& c) -> auto& { return c.wal_guard.max_bytes; }, 0,
          [](const Config& c) -> Problem {
          // A limit below the warning would act before anyone was warned.
            const WalGuardConfig& guard = c.wal_guard;
            if (guard.max_bytes != 0 && guard.warn_bytes != 0 && guard.max_bytes < guard.warn_bytes) {
              return "must be 0 (off) or at least wal_guard.warn_bytes (" + std::to_string(guard.warn_bytes) +
                     "), got " + std::to_string(guard.max_bytes);
            }
            return std::nullopt;
          }),
      EnumKey(
          "wal_guard.action", [](auto& c) -> auto& { return c.wal_guard.action; },
          Choices<WalGuardAction>{{"alert", WalGuardAction::kAlert}, {"stop", WalGuardAction::kStop}}),
      MillisKey(
          "wal_guard.poll_interval_ms", [](auto& c) -> auto& { return c.wal_guard.poll_interval; }, 100,
          kMaxDurationMs),
      SecondsKey("ready.max_lag_seconds", [](auto& c) -> auto& { return c.ready.max_lag; }),
      SecondsKey(
          "ha.takeover_seconds", [](auto& c) -> auto& { return c.ha.takeover; }, 2),
      MillisKey(
          "shutdown.timeout_ms", [](auto& c) -> auto& { return c.shutdown.timeout; }, 1, kMaxDurationMs),
  };
}

}  // namespace outbox_relay::config::detail
