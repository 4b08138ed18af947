// The operational keys: http.listen, heartbeat.*, wal_guard.*, ready.* and log.format. Single-key
// bad values are also rows of OperationalKeys/BadValueTest in operational_keys_test.cpp; the
// edges of each range, the rules between keys and the environment overrides are here.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

using namespace outbox_relay::config::test_support;
constexpr std::uint64_t kGiB = 1ull << 30;

// The minimal file with one `key: value` line in `section`.
std::string With(const std::string& section, const std::string& key, const std::string& value) {
  return WithDsn(section + ":\n  " + key + ": " + value + "\n");
}

// ---- Defaults and a full file -------------------------------------------------------------------

// The default HTTP port leaves the ports application containers usually take to the
// application, so that the relay runs as a sidecar beside one without a clash.
TEST(OpsConfigTest, DefaultPortIsNoUsualApplicationPort) {
  const std::string listen = ParseConfig(kMinimal, {}).http.listen;
  const std::string port = listen.substr(listen.rfind(':') + 1);
  for (const char* taken : {"8080", "8000", "3000", "5000", "9090", "8081", "8443", "80", "443"}) {
    EXPECT_NE(port, taken) << "the default http.listen " << listen << " takes a usual application port";
  }
}

// Without any of these keys every default from the header applies.
TEST(OpsConfigTest, DefaultsWhenUnset) {
  const Config config = ParseConfig(kMinimal, {});
  EXPECT_EQ(config.http.listen, "0.0.0.0:9742");
  EXPECT_EQ(config.heartbeat.interval, 10000ms);
  EXPECT_EQ(config.wal_guard.warn_bytes, kGiB);
  EXPECT_EQ(config.wal_guard.max_bytes, 0u);
  EXPECT_EQ(config.wal_guard.action, WalGuardAction::kAlert);
  EXPECT_EQ(config.wal_guard.poll_interval, 10000ms);
  EXPECT_EQ(config.ready.max_lag, 60s);
  EXPECT_EQ(config.log.format, "text");
}

// Every key of a file that sets them all lands in its field.
TEST(OpsConfigTest, ParsesEveryKey) {
  const Config config = ParseConfig(WithDsn(R"(
http:
  listen: 127.0.0.1:9090
heartbeat:
  interval_ms: 2500
wal_guard:
  warn_bytes: 1000
  max_bytes: 5000
  action: stop
  poll_interval_ms: 250
ready:
  max_lag_seconds: 15
log:
  format: json
)"),
                                    {});
  EXPECT_EQ(config.http.listen, "127.0.0.1:9090");
  EXPECT_EQ(config.heartbeat.interval, 2500ms);
  EXPECT_EQ(config.wal_guard.warn_bytes, 1000u);
  EXPECT_EQ(config.wal_guard.max_bytes, 5000u);
  EXPECT_EQ(config.wal_guard.action, WalGuardAction::kStop);
  EXPECT_EQ(config.wal_guard.poll_interval, 250ms);
  EXPECT_EQ(config.ready.max_lag, 15s);
  EXPECT_EQ(config.log.format, "json");
}

// ---- http.listen --------------------------------------------------------------------------------

// Host names and both ends of the port range are accepted; port 0 asks for a free port.
TEST(OpsConfigTest, ListenAcceptsHostNamesAndPortRange) {
  for (const std::string listen : {"localhost:0", "relay.internal:65535", "10.0.0.7:1"}) {
    EXPECT_EQ(ParseConfig(With("http", "listen", listen), {}).http.listen, listen);
  }
}

// A value without a port is refused naming http.listen and showing the expected shape.
TEST(OpsConfigTest, ListenRequiresHostAndPort) {
  for (const std::string listen : {"8080", "':8080'", "'localhost:'", "''"}) {
    const ConfigError error = ErrorFrom(With("http", "listen", listen));
    EXPECT_EQ(error.key(), "http.listen") << listen;
    EXPECT_THAT(error.what(), HasSubstr("host:port")) << listen;
  }
}

// Ports outside 0..65535 or not a plain number are refused naming http.listen.
TEST(OpsConfigTest, ListenRejectsBadPorts) {
  for (const std::string listen :
       {"localhost:65536", "localhost:99999999999999999999", "localhost:-1", "localhost:http",
        "'localhost: 80'", "localhost:80a"}) {
    const ConfigError error = ErrorFrom(With("http", "listen", listen));
    EXPECT_EQ(error.key(), "http.listen") << listen;
    EXPECT_THAT(error.what(), HasSubstr("0 to 65535")) << listen;
  }
}

// OUTBOX_RELAY_HTTP_LISTEN replaces the file's value.
TEST(OpsConfigTest, ListenFromEnvironment) {
  const Config config = ParseConfig(With("http", "listen", "0.0.0.0:1"),
                                    {{"OUTBOX_RELAY_HTTP_LISTEN", "127.0.0.1:9464"}});
  EXPECT_EQ(config.http.listen, "127.0.0.1:9464");
}

// A bad listen address from the environment names the variable.
TEST(OpsConfigTest, BadListenFromEnvironmentNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_HTTP_LISTEN", "localhost:70000"}}).key(),
            "OUTBOX_RELAY_HTTP_LISTEN");
}

// ---- heartbeat.interval_ms ----------------------------------------------------------------------

// 0 turns the heartbeat off and is accepted, as is the one-hour maximum.
TEST(OpsConfigTest, HeartbeatAcceptsZeroAndMaximum) {
  EXPECT_EQ(ParseConfig(With("heartbeat", "interval_ms", "0"), {}).heartbeat.interval, 0ms);
  EXPECT_EQ(ParseConfig(With("heartbeat", "interval_ms", "3600000"), {}).heartbeat.interval,
            3600000ms);
}

// Past an hour the interval is refused naming the key.
TEST(OpsConfigTest, HeartbeatRejectsOverAnHour) {
  const ConfigError error = ErrorFrom(With("heartbeat", "interval_ms", "3600001"));
  EXPECT_EQ(error.key(), "heartbeat.interval_ms");
  EXPECT_THAT(error.what(), HasSubstr("between 0 and 3600000"));
}

// ---- wal_guard.warn_bytes / max_bytes -----------------------------------------------------------

// 0 turns the warning off; byte counts beyond 32 bits are kept exactly.
TEST(OpsConfigTest, WarnBytesAcceptsZeroAndLargeValues) {
  EXPECT_EQ(ParseConfig(With("wal_guard", "warn_bytes", "0"), {}).wal_guard.warn_bytes, 0u);
  EXPECT_EQ(ParseConfig(With("wal_guard", "warn_bytes", "1099511627776"), {}).wal_guard.warn_bytes,
            1099511627776u);
}

// A negative byte count is a type error on the key.
TEST(OpsConfigTest, WarnBytesRejectsNegative) {
  const ConfigError error = ErrorFrom(With("wal_guard", "warn_bytes", "-1"));
  EXPECT_EQ(error.key(), "wal_guard.warn_bytes");
  EXPECT_THAT(error.what(), HasSubstr("non-negative integer"));
}

// A hard limit below the warning threshold is refused, naming max_bytes and the threshold.
TEST(OpsConfigTest, MaxBytesBelowWarnIsRejected) {
  const ConfigError error =
      ErrorFrom(WithDsn("wal_guard:\n  warn_bytes: 2000\n  max_bytes: 1999\n"));
  EXPECT_EQ(error.key(), "wal_guard.max_bytes");
  EXPECT_THAT(error.what(), HasSubstr("at least wal_guard.warn_bytes (2000)"));
  EXPECT_THAT(error.what(), HasSubstr("got 1999"));
}

// The check also applies against the 1 GiB default threshold.
TEST(OpsConfigTest, MaxBytesBelowDefaultWarnIsRejected) {
  EXPECT_EQ(ErrorFrom(With("wal_guard", "max_bytes", std::to_string(kGiB - 1))).key(),
            "wal_guard.max_bytes");
}

// A limit equal to or above the threshold is accepted.
TEST(OpsConfigTest, MaxBytesAtOrAboveWarnIsAccepted) {
  EXPECT_EQ(ParseConfig(WithDsn("wal_guard:\n  warn_bytes: 2000\n  max_bytes: 2000\n"), {})
                .wal_guard.max_bytes,
            2000u);
  EXPECT_EQ(ParseConfig(With("wal_guard", "max_bytes", std::to_string(2 * kGiB)), {})
                .wal_guard.max_bytes,
            2 * kGiB);
}

// With the warning off, any limit is accepted; with the limit off, any warning is.
TEST(OpsConfigTest, ZeroTurnsTheOrderingCheckOff) {
  EXPECT_EQ(ParseConfig(WithDsn("wal_guard:\n  warn_bytes: 0\n  max_bytes: 1\n"), {})
                .wal_guard.max_bytes,
            1u);
  EXPECT_EQ(ParseConfig(WithDsn("wal_guard:\n  warn_bytes: 5000\n  max_bytes: 0\n"), {})
                .wal_guard.warn_bytes,
            5000u);
}

// The ordering is checked on the merged values: raising the threshold from the environment
// above the file's limit names where the limit was set.
TEST(OpsConfigTest, MaxBytesCheckSeesEnvironmentThreshold) {
  const ConfigError error = ErrorFrom(With("wal_guard", "max_bytes", "3000"),
                                      {{"OUTBOX_RELAY_WAL_GUARD_WARN_BYTES", "4000"}});
  EXPECT_EQ(error.key(), "wal_guard.max_bytes");
  EXPECT_THAT(error.what(), HasSubstr("(4000)"));
}

// A limit too low from the environment names the variable.
TEST(OpsConfigTest, MaxBytesFromEnvironmentNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_WAL_GUARD_MAX_BYTES", "1"}}).key(),
            "OUTBOX_RELAY_WAL_GUARD_MAX_BYTES");
}

// ---- wal_guard.action ---------------------------------------------------------------------------

// alert and stop are the two actions.
TEST(OpsConfigTest, ActionAcceptsAlertAndStop) {
  EXPECT_EQ(ParseConfig(With("wal_guard", "action", "alert"), {}).wal_guard.action,
            WalGuardAction::kAlert);
  EXPECT_EQ(ParseConfig(With("wal_guard", "action", "stop"), {}).wal_guard.action,
            WalGuardAction::kStop);
}

// Anything else, including another spelling of case, is refused listing the choices.
TEST(OpsConfigTest, ActionRejectsOtherValues) {
  for (const std::string action : {"panic", "Stop", "''"}) {
    const ConfigError error = ErrorFrom(With("wal_guard", "action", action));
    EXPECT_EQ(error.key(), "wal_guard.action") << action;
    EXPECT_THAT(error.what(), HasSubstr("alert, stop")) << action;
  }
}

// OUTBOX_RELAY_WAL_GUARD_ACTION replaces the file's value.
TEST(OpsConfigTest, ActionFromEnvironment) {
  EXPECT_EQ(ParseConfig(With("wal_guard", "action", "alert"),
                        {{"OUTBOX_RELAY_WAL_GUARD_ACTION", "stop"}})
                .wal_guard.action,
            WalGuardAction::kStop);
}

// A bad action from the environment names the variable.
TEST(OpsConfigTest, BadActionFromEnvironmentNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_WAL_GUARD_ACTION", "halt"}}).key(),
            "OUTBOX_RELAY_WAL_GUARD_ACTION");
}

// ---- wal_guard.poll_interval_ms -----------------------------------------------------------------

// 100 ms is the shortest poll interval accepted.
TEST(OpsConfigTest, PollIntervalAcceptsMinimum) {
  EXPECT_EQ(ParseConfig(With("wal_guard", "poll_interval_ms", "100"), {}).wal_guard.poll_interval,
            100ms);
}

// Below 100 ms the poll interval is refused naming the key and the range.
TEST(OpsConfigTest, PollIntervalRejectsBelowMinimum) {
  for (const std::string interval : {"99", "0"}) {
    const ConfigError error = ErrorFrom(With("wal_guard", "poll_interval_ms", interval));
    EXPECT_EQ(error.key(), "wal_guard.poll_interval_ms") << interval;
    EXPECT_THAT(error.what(), HasSubstr("between 100 and 3600000")) << interval;
  }
}

// ---- ready.max_lag_seconds ----------------------------------------------------------------------

// The lag limit is read in seconds, up to an hour.
TEST(OpsConfigTest, MaxLagAcceptsSecondsUpToAnHour) {
  EXPECT_EQ(ParseConfig(With("ready", "max_lag_seconds", "3600"), {}).ready.max_lag, 3600s);
}

// Past an hour, or not an integer, the lag limit is refused naming the key.
TEST(OpsConfigTest, MaxLagRejectsOutOfRangeAndNonIntegers) {
  EXPECT_THAT(ErrorFrom(With("ready", "max_lag_seconds", "3601")).what(),
              HasSubstr("out of range"));
  const ConfigError error = ErrorFrom(With("ready", "max_lag_seconds", "1.5"));
  EXPECT_EQ(error.key(), "ready.max_lag_seconds");
  EXPECT_THAT(error.what(), HasSubstr("integer"));
}

// ---- ha.takeover_seconds ------------------------------------------------------------------------

// A standby takes over within 10 s unless told otherwise.
TEST(OpsConfigTest, TakeoverDefaultsToTenSecondsAndAcceptsTwo) {
  EXPECT_EQ(ParseConfig(With("ready", "max_lag_seconds", "60"), {}).ha.takeover, 10s);
  EXPECT_EQ(ParseConfig(With("ha", "takeover_seconds", "2"), {}).ha.takeover, 2s);
}

// Under 2 s a standby would hammer the server with START_REPLICATION; refused naming the key.
TEST(OpsConfigTest, TakeoverRejectsUnderTwoSeconds) {
  for (const std::string seconds : {"0", "1"}) {
    const ConfigError error = ErrorFrom(With("ha", "takeover_seconds", seconds));
    EXPECT_EQ(error.key(), "ha.takeover_seconds") << seconds;
    EXPECT_THAT(error.what(), HasSubstr("between 2 and 3600")) << seconds;
  }
}

// ---- log.format ---------------------------------------------------------------------------------

// text and json are the two formats.
TEST(OpsConfigTest, LogFormatAcceptsTextAndJson) {
  EXPECT_EQ(ParseConfig(With("log", "format", "text"), {}).log.format, "text");
  EXPECT_EQ(ParseConfig(With("log", "format", "json"), {}).log.format, "json");
}

// Other formats, including upper case, are refused listing the choices.
TEST(OpsConfigTest, LogFormatRejectsOtherValues) {
  for (const std::string format : {"JSON", "logfmt", "''"}) {
    const ConfigError error = ErrorFrom(With("log", "format", format));
    EXPECT_EQ(error.key(), "log.format") << format;
    EXPECT_THAT(error.what(), HasSubstr("text, json")) << format;
  }
}

// OUTBOX_RELAY_LOG_FORMAT replaces the file's value, even a bad one: validation runs on the
// merged result.
TEST(OpsConfigTest, LogFormatFromEnvironment) {
  EXPECT_EQ(ParseConfig(With("log", "format", "xml"), {{"OUTBOX_RELAY_LOG_FORMAT", "json"}})
                .log.format,
            "json");
}

// A bad format from the environment names the variable.
TEST(OpsConfigTest, BadLogFormatFromEnvironmentNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_LOG_FORMAT", "yaml"}}).key(),
            "OUTBOX_RELAY_LOG_FORMAT");
}

// ---- Names --------------------------------------------------------------------------------------

// A misspelt key in a new section gets a suggestion, in the file and in the environment.
TEST(OpsConfigTest, MisspeltNewKeysGetSuggestions) {
  EXPECT_THAT(ErrorFrom(With("wal_guard", "max_byte", "1")).what(),
              HasSubstr("did you mean wal_guard.max_bytes?"));
  EXPECT_THAT(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_HTTP_LISTN", "x:1"}}).what(),
              HasSubstr("did you mean OUTBOX_RELAY_HTTP_LISTEN?"));
}

}  // namespace
}  // namespace outbox_relay::config
