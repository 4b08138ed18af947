#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace outbox_relay::config {

enum class SinkType { kStdout, kKafka };

enum class DeliveryMode { kAtLeastOnce, kExactlyOnce };

/// Column names of the outbox table (Debezium's names by default).
struct OutboxColumns {
  std::string id = "id";
  std::string aggregate_type = "aggregatetype";
  std::string aggregate_id = "aggregateid";
  std::string type = "type";
  std::string payload = "payload";
  std::string headers = "headers";
};

struct SourceConfig {
  std::string dsn;  // libpq conninfo or URI; required
  std::string slot = "outbox_relay";
  std::string publication = "outbox_relay";
  bool create_slot = true;
  std::chrono::milliseconds status_interval{1000};
  std::chrono::milliseconds reconnect_backoff_initial{200};
  std::chrono::milliseconds reconnect_backoff_max{30000};
};

struct OutboxConfig {
  std::string table_schema = "outbox";
  std::string table_name = "outbox";
  OutboxColumns columns;
  std::string topic = "outbox.event.{aggregate_type}";
};

struct SinkConfig {
  SinkType type = SinkType::kStdout;
};

/// Kafka transactions: events of one or more PostgreSQL transactions plus a checkpoint record.
struct ExactlyOnceConfig {
  std::size_t max_batch_events = 10000;  // close the Kafka transaction at a commit past this
  std::chrono::milliseconds max_batch{100};  // ... or when its first commit is this old
  std::string checkpoint_topic = "outbox-relay.checkpoints";
  std::size_t checkpoint_replication_factor = 0;  // 0: the broker's default.replication.factor
  std::string transactional_id;  // empty: "outbox-relay-" + source.slot
  std::chrono::milliseconds transaction_timeout{60000};

  /// The transactional.id in force for `slot`.
  std::string TransactionalId(const std::string& slot) const {
    return transactional_id.empty() ? "outbox-relay-" + slot : transactional_id;
  }
};

struct FlowConfig {
  std::size_t max_in_flight_events = 50000;
  std::size_t max_in_flight_bytes = 64u * 1024 * 1024;
};

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error
  std::string format = "text";  // text|json
};

/// The one HTTP port: /metrics, /healthz, /readyz.
struct HttpConfig {
  std::string listen = "0.0.0.0:8080";  // host:port; port 0 picks a free one (logged)
};

struct HeartbeatConfig {
  std::chrono::milliseconds interval{10000};  // 0: off
};

enum class WalGuardAction { kAlert, kStop };

/// Limits on the WAL the slot retains (pg_replication_slots), polled on a separate connection.
struct WalGuardConfig {
  std::uint64_t warn_bytes = 1ull << 30;  // 0: off
  std::uint64_t max_bytes = 0;            // 0: off
  WalGuardAction action = WalGuardAction::kAlert;
  std::chrono::milliseconds poll_interval{10000};
};

struct ReadyConfig {
  std::chrono::seconds max_lag{60};
};

struct ShutdownConfig {
  std::chrono::milliseconds timeout{30000};
};

/// Everything the relay needs, fully validated.
struct Config {
  SourceConfig source;
  OutboxConfig outbox;
  SinkConfig sink;
  DeliveryMode delivery = DeliveryMode::kAtLeastOnce;
  ExactlyOnceConfig exactly_once;
  std::map<std::string, std::string> kafka;  // librdkafka properties, passed through
  FlowConfig flow;
  LogConfig log;
  HttpConfig http;
  HeartbeatConfig heartbeat;
  WalGuardConfig wal_guard;
  ReadyConfig ready;
  ShutdownConfig shutdown;
};

/// A configuration problem; `key()` is the dotted key ("source.dsn", "kafka.acks").
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string key, const std::string& message)
      : std::runtime_error(key + ": " + message), key_(std::move(key)) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

/// Environment variables as name → value (only OUTBOX_RELAY_* ones are read).
using Environment = std::map<std::string, std::string>;

/// Builds a Config from YAML text (may be empty: defaults only) and environment overrides,
/// and validates it. Throws ConfigError naming the first bad key. Pure: no I/O.
Config ParseConfig(std::string_view yaml_text, const Environment& env);

/// Reads the YAML file at `path` (empty path: no file) and calls ParseConfig.
/// Throws ConfigError (key "config") if the file cannot be read.
Config LoadConfig(const std::string& path, const Environment& env);

/// The process environment, for LoadConfig.
Environment ProcessEnvironment();

}  // namespace outbox_relay::config
