// The source.* keys: the PostgreSQL connection (DSN, TLS, password), the slot, the publication
// and the replication timings.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config::detail {
namespace {

// Status updates report the confirmed LSN: more often than 10/s is pure load, and less often
// than once a minute (wal_sender_timeout's default) lets WAL retention lag for no benefit.
constexpr std::uint64_t kMinStatusIntervalMs = 100;
constexpr std::uint64_t kMaxStatusIntervalMs = 60'000;

Problem CheckDsn(const std::string& dsn, const Config&) {
  // Never echo the DSN: it may hold a password.
  if (dsn.empty()) return "is required (a libpq connection string or postgresql:// URI)";
  return std::nullopt;
}

// libpq's sslmode values; empty leaves the choice to the DSN (default prefer).
Problem CheckSslMode(const std::string& mode, const Config&) {
  for (std::string_view known : {"", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    if (mode == known) return std::nullopt;
  }
  return "expected one of disable, allow, prefer, require, verify-ca, verify-full, got \"" + mode + "\"";
}

Problem CheckSlotName(const std::string& slot, const Config&) {
  // PostgreSQL's own rule for replication slot names.
  const bool valid_chars = std::all_of(slot.begin(), slot.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (slot.empty() || slot.size() > kMaxIdentifierLength || !valid_chars) {
    return "must be 1 to 63 characters of lower-case letters, digits and underscores, got \"" + slot + "\"";
  }
  return std::nullopt;
}

Problem CheckPublication(const std::string& publication, const Config&) { return CheckIdentifier(publication); }

}  // namespace

std::vector<KeySpec> SourceKeys() {
  return {
      StringKey(
          "source.dsn", [](auto& c) -> auto& { return c.source.dsn; }, CheckDsn),
      StringKey(
          "source.password", [](auto& c) -> auto& { return c.source.password; }, AnyText),
      StringKey(
          "source.sslmode", [](auto& c) -> auto& { return c.source.sslmode; }, CheckSslMode),
      StringKey(
          "source.sslrootcert", [](auto& c) -> auto& { return c.source.sslrootcert; }, AnyText),
      StringKey(
          "source.sslcert", [](auto& c) -> auto& { return c.source.sslcert; }, AnyText),
      StringKey(
          "source.sslkey", [](auto& c) -> auto& { return c.source.sslkey; }, AnyText),
      StringKey(
          "source.sslpassword", [](auto& c) -> auto& { return c.source.sslpassword; }, AnyText),
      StringKey(
          "source.slot", [](auto& c) -> auto& { return c.source.slot; }, CheckSlotName),
      StringKey(
          "source.publication", [](auto& c) -> auto& { return c.source.publication; }, CheckPublication),
      BoolKey("source.create_slot", [](auto& c) -> auto& { return c.source.create_slot; }),
      BoolKey("source.slot_failover", [](auto& c) -> auto& { return c.source.slot_failover; }),
      MillisKey(
          "source.status_interval_ms", [](auto& c) -> auto& { return c.source.status_interval; },
          kMinStatusIntervalMs, kMaxStatusIntervalMs),
      MillisKey(
          "source.reconnect_backoff_initial_ms",
          [](auto& c) -> auto& { return c.source.reconnect_backoff_initial; }, 1, kMaxDurationMs),
      MillisKey(
          "source.reconnect_backoff_max_ms", [](auto& c) -> auto& { return c.source.reconnect_backoff_max; }, 1,
          kMaxDurationMs,
          [](const Config& c) -> Problem {
            if (c.source.reconnect_backoff_max < c.source.reconnect_backoff_initial) {
              return "must be at least source.reconnect_backoff_initial_ms (" +
                     std::to_string(c.source.reconnect_backoff_initial.count()) + "), got " +
                     std::to_string(c.source.reconnect_backoff_max.count());
            }
            return std::nullopt;
          }),
  };
}

}  // namespace outbox_relay::config::detail
