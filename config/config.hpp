#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace outbox_relay::config {

enum class SinkType { kStdout, kKafka, kRabbitMq };

/// The prefix of the relay's own heartbeat messages (pg_logical_emit_message), never an outbox.
inline constexpr std::string_view kHeartbeatMessagePrefix = "outbox-relay.heartbeat";

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
  // libpq connection parameters of the same names; when set they win over the DSN's.
  std::string password;     // secret
  std::string sslmode;      // disable|allow|prefer|require|verify-ca|verify-full
  std::string sslrootcert;  // CA file for verify-ca / verify-full
  std::string sslcert;      // client certificate
  std::string sslkey;       // its key
  std::string sslpassword;  // secret: the passphrase of sslkey
  std::string slot = "outbox_relay";
  std::string publication = "outbox_relay";
  bool create_slot = true;
  // PostgreSQL 17+: the slot is created as a failover slot (synchronised to standbys).
  bool slot_failover = true;
  std::chrono::milliseconds status_interval{1000};
  std::chrono::milliseconds reconnect_backoff_initial{200};
  std::chrono::milliseconds reconnect_backoff_max{30000};
};

/// What a Kafka record looks like. `payload`: the value is the payload, metadata in headers.
/// `envelope`: the value is a JSON object with id, aggregate_type, aggregate_id, type and
/// payload. The CloudEvents 1.0 Kafka binding: `ce_*` headers around the payload (binary) or a
/// whole CloudEvent as the value, content type application/cloudevents+json (structured).
enum class EventFormat { kPayload, kEnvelope, kCloudEventsBinary, kCloudEventsStructured };

/// Where events come from: rows inserted into outbox tables, transactional logical decoding
/// messages written by outbox.publish_message(), or both.
enum class CaptureMode { kTable, kMessages, kBoth };

struct TableName {
  std::string schema;
  std::string name;

  std::string Qualified() const { return schema + "." + name; }
  bool operator==(const TableName&) const = default;
};

/// One routing rule: the first rule whose matchers all hold decides the event's topic, key
/// and format; what it leaves empty comes from the outbox section.
struct RouteConfig {
  // Matchers; empty matches anything. `source` is an event's `source` header value:
  // "table:<schema>.<table>" or "message:<prefix>".
  std::string source;
  std::string aggregate_type;
  std::string type;
  // Overrides.
  std::string topic;
  std::string key;  // column (or message field) whose value is the Kafka key
  std::optional<EventFormat> format;
  std::string exchange;  // sink.type rabbitmq: the exchange template (else rabbitmq.exchange)
};

struct OutboxConfig {
  std::vector<TableName> tables{{"outbox", "outbox"}};
  CaptureMode capture = CaptureMode::kTable;
  std::vector<std::string> message_prefixes{"outbox"};
  OutboxColumns columns;
  std::string topic = "outbox.event.{aggregate_type}";
  std::string key;  // empty: columns.aggregate_id
  EventFormat format = EventFormat::kPayload;
  std::string cloudevents_source;  // empty: "/<schema>/<table>" or "/message/<prefix>"
  std::vector<RouteConfig> routes;

  bool CapturesTables() const { return capture != CaptureMode::kMessages; }
  bool CapturesMessages() const { return capture != CaptureMode::kTable; }
  /// The Kafka key column when no rule names one.
  const std::string& KeyColumn() const { return key.empty() ? columns.aggregate_id : key; }
};

struct SinkConfig {
  SinkType type = SinkType::kKafka;
  /// sink.type was not set and the `kafka` section chose Kafka (what `check` reports).
  bool chosen_by_kafka_section = false;
};

/// sink.type rabbitmq: one AMQP 0-9-1 connection and one channel in confirm mode. The routing
/// key is the event's topic (outbox.topic, routes[].topic); the exchange comes from `exchange`
/// or a route's own, with the same placeholders.
struct RabbitMqConfig {
  std::string host = "localhost";
  std::size_t port = 0;  // 0: 5672, or 5671 with tls
  std::string vhost = "/";
  std::string username = "guest";
  std::string password;  // secret
  std::string exchange = "outbox";
  // Where poison rows go under on_poison: dead-letter, with dead_letter.topic as routing key.
  std::string dead_letter_exchange = "outbox.dead-letter";
  // Every event to this stream queue (declared durable, x-queue-type stream) through the
  // default exchange instead: one log in commit order, replayable by offset.
  std::string stream;
  std::string correlation_id_header = "correlation_id";  // outbox header copied to correlation_id
  bool tls = false;
  std::string ca_file;    // empty: the system's CAs
  std::string cert_file;  // client certificate, with key_file
  std::string key_file;
  bool verify_hostname = true;
  std::chrono::seconds heartbeat{30};  // 0: off
  std::chrono::milliseconds connect_timeout{10000};

  std::size_t Port() const { return port != 0 ? port : (tls ? 5671 : 5672); }
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

/// What the relay does with a poison row (one it cannot publish as configured): stop without
/// confirming its transaction, or write it to the dead-letter topic and go on.
enum class PoisonPolicy { kFail, kDeadLetter };

struct DeadLetterConfig {
  std::string topic = "outbox-relay.dead-letter";
};

struct FlowConfig {
  // The bench's knee: 5,000 kept full throughput on loopback and halved peak RSS against 50,000.
  std::size_t max_in_flight_events = 5000;
  std::size_t max_in_flight_bytes = std::size_t{64} * 1024 * 1024;
};

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error
  std::string format = "text";  // text|json
};

/// The one HTTP port: /metrics, /healthz, /readyz.
struct HttpConfig {
  // host:port; port 0 picks a free one (logged). Not 8080, 8000, 3000, 5000 or 9090: in a
  // sidecar pod the application container usually has those.
  std::string listen = "0.0.0.0:9742";
};

struct HeartbeatConfig {
  std::chrono::milliseconds interval{10000};  // 0: off
  // The primary, when source.dsn is a hot standby (which cannot write); empty: source.dsn.
  std::string dsn;  // secret
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

/// The slot is the lock between relays; a standby retries a slot in use at random intervals
/// of a quarter to a half of `takeover`, so it streams within `takeover` of the active relay's end.
struct HaConfig {
  std::chrono::seconds takeover{10};
};

/// One rule of inbox.handlers: the events of `topic`, and of `type` when it is set, go to the
/// SQL function `function`, called as function(id, type, key, headers, payload).
struct InboxHandlerConfig {
  std::string topic;
  std::string type;      // empty: every type
  std::string function;  // [schema.]name
};

/// What the inbox does with an event that no rule of inbox.handlers matches: record its id and
/// position without applying anything, or stop like for a poison event.
enum class UnhandledPolicy { kSkip, kFail };

/// `outbox-relay inbox`: a consumer that applies events to source.dsn's database, each exactly
/// once (inbox/sql/V1__inbox.sql).
struct InboxConfig {
  std::string name = "default";  // inbox.processed / inbox.positions rows are per name
  std::string group_id;          // empty: outbox-relay-inbox.<name>
  std::vector<std::string> partitions;  // static assignment, "topic:partition"; empty: the group's
  std::vector<InboxHandlerConfig> handlers;
  EventFormat format = EventFormat::kPayload;
  std::size_t batch_size = 500;
  std::chrono::milliseconds batch_wait{100};
  PoisonPolicy on_poison = PoisonPolicy::kFail;
  std::string dead_letter_topic = "outbox-relay.inbox-dead-letter";
  UnhandledPolicy unhandled = UnhandledPolicy::kSkip;
  std::chrono::milliseconds retry_backoff_initial{100};
  std::chrono::milliseconds retry_backoff_max{10000};

  std::string GroupId() const { return group_id.empty() ? "outbox-relay-inbox." + name : group_id; }
  /// The topics of the handlers and of the static partitions, each once, in rule order.
  std::vector<std::string> Topics() const;
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
  PoisonPolicy on_poison = PoisonPolicy::kFail;
  DeadLetterConfig dead_letter;
  std::map<std::string, std::string> kafka;  // librdkafka properties, passed through
  RabbitMqConfig rabbitmq;
  InboxConfig inbox;
  FlowConfig flow;
  LogConfig log;
  HttpConfig http;
  HeartbeatConfig heartbeat;
  WalGuardConfig wal_guard;
  ReadyConfig ready;
  HaConfig ha;
  ShutdownConfig shutdown;
  /// OUTBOX_RELAY_* variables that Kubernetes injected for a Service (service links), ignored;
  /// the caller logs them once logging is configured.
  std::vector<std::string> ignored_service_links;
};

/// The exchange template events are routed with: rabbitmq.exchange for sink.type rabbitmq;
/// empty (no exchange) for the other sinks.
inline std::string_view EventExchange(const Config& config) {
  return config.sink.type == SinkType::kRabbitMq ? std::string_view(config.rabbitmq.exchange) : std::string_view();
}

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

/// Reads the file a `<secret key>_file` setting names; throws std::runtime_error saying why
/// it cannot (never quoting the content).
using SecretFileReader = std::function<std::string(const std::string& path)>;

/// The file system's SecretFileReader.
std::string ReadSecretFile(const std::string& path);

/// True for keys whose values are credentials: source.dsn, source.password,
/// source.sslpassword, heartbeat.dsn, rabbitmq.password, and kafka.* properties naming a password or secret (plus
/// kafka.ssl.key.pem and kafka.sasl.oauthbearer.config). Their values never appear in
/// messages, and each can be given as `<key>_file` instead.
bool IsSecretKey(std::string_view key);

/// Builds a Config from YAML text (may be empty: defaults only) and environment overrides,
/// and validates it. Throws ConfigError naming the first bad key. No I/O but reading the
/// files of `<secret key>_file` settings through `read_file` (trailing line breaks stripped).
Config ParseConfig(std::string_view yaml_text, const Environment& env,
                   const SecretFileReader& read_file = ReadSecretFile);

/// Reads the YAML file at `path` (empty path: no file) and calls ParseConfig.
/// Throws ConfigError (key "config") if the file cannot be read.
Config LoadConfig(const std::string& path, const Environment& env);

/// Every configuration key the key table knows (dotted, as in the file), plus "kafka.*" and
/// "outbox.routes": what the README's configuration table documents.
std::vector<std::string> ConfigurationKeys();

/// " (did you mean X?)" when one of `candidates` is a plausible typo of `name`, else "".
std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates);

/// The process environment, for LoadConfig.
Environment ProcessEnvironment();

/// The values of the secret keys set in `config` (see IsSecretKey), for redaction; not
/// source.dsn as a whole, whose host, port, database and user messages may show: the password
/// inside it is the caller's to add, as only libpq parses a DSN.
std::vector<std::string> SecretValues(const Config& config);

/// The connection to the primary that heartbeat.dsn names, with source's password and TLS
/// settings (the same role, the same cluster); none when heartbeat.dsn is empty.
std::optional<SourceConfig> PrimarySource(const Config& config);

}  // namespace outbox_relay::config
