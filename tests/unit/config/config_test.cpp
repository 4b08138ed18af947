#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using namespace outbox_relay::config::test_support;

// ---- Defaults and full files ----------------------------------------------------------------

// A file holding only the DSN yields every default from the header.
TEST(ConfigTest, MinimalFileYieldsDefaults) {
  const Config config = ParseConfig(kMinimal, {});
  const Config defaults;
  EXPECT_EQ(config.source.dsn, "host=db dbname=app");
  EXPECT_EQ(config.source.slot, "outbox_relay");
  EXPECT_EQ(config.source.publication, "outbox_relay");
  EXPECT_TRUE(config.source.create_slot);
  EXPECT_EQ(config.source.status_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(config.source.reconnect_backoff_initial, std::chrono::milliseconds(200));
  EXPECT_EQ(config.source.reconnect_backoff_max, std::chrono::milliseconds(30000));
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"outbox", "outbox"}}));
  EXPECT_EQ(config.outbox.capture, CaptureMode::kTable);
  EXPECT_EQ(config.outbox.message_prefixes, std::vector<std::string>{"outbox"});
  EXPECT_EQ(config.outbox.format, EventFormat::kPayload);
  EXPECT_EQ(config.outbox.KeyColumn(), "aggregateid");
  EXPECT_TRUE(config.outbox.routes.empty());
  EXPECT_EQ(config.outbox.topic, "outbox.event.{aggregate_type}");
  EXPECT_EQ(config.outbox.columns.id, defaults.outbox.columns.id);
  EXPECT_EQ(config.outbox.columns.aggregate_type, "aggregatetype");
  EXPECT_EQ(config.outbox.columns.headers, "headers");
  EXPECT_EQ(config.sink.type, SinkType::kStdout);
  EXPECT_TRUE(config.kafka.empty());
  EXPECT_EQ(config.flow.max_in_flight_events, 50000u);
  EXPECT_EQ(config.flow.max_in_flight_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(config.log.level, "info");
  EXPECT_EQ(config.shutdown.timeout, std::chrono::milliseconds(30000));
}

// Every key of a complete file lands in its field.
TEST(ConfigTest, ParsesFullFile) {
  const Config config = ParseConfig(R"(
source:
  dsn: postgresql://relay@db/app
  slot: my_slot_1
  publication: my_pub
  create_slot: false
  status_interval_ms: 500
  reconnect_backoff_initial_ms: 100
  reconnect_backoff_max_ms: 5000
outbox:
  tables: events.outbox_events
  topic: "{aggregate_type}.{type}"
  columns:
    id: event_id
    aggregate_type: agg_type
    aggregate_id: agg_id
    type: event_type
    payload: body
    headers: meta
sink:
  type: kafka
kafka:
  bootstrap.servers: k1:9092,k2:9092
  linger.ms: 5
  enable.idempotence: true
  acks: all
flow:
  max_in_flight_events: 1000
  max_in_flight_bytes: 1048576
log:
  level: debug
shutdown:
  timeout_ms: 10000
)",
                                    {});
  EXPECT_EQ(config.source.dsn, "postgresql://relay@db/app");
  EXPECT_EQ(config.source.slot, "my_slot_1");
  EXPECT_EQ(config.source.publication, "my_pub");
  EXPECT_FALSE(config.source.create_slot);
  EXPECT_EQ(config.source.status_interval, std::chrono::milliseconds(500));
  EXPECT_EQ(config.source.reconnect_backoff_initial, std::chrono::milliseconds(100));
  EXPECT_EQ(config.source.reconnect_backoff_max, std::chrono::milliseconds(5000));
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"events", "outbox_events"}}));
  EXPECT_EQ(config.outbox.topic, "{aggregate_type}.{type}");
  EXPECT_EQ(config.outbox.columns.id, "event_id");
  EXPECT_EQ(config.outbox.columns.aggregate_type, "agg_type");
  EXPECT_EQ(config.outbox.columns.aggregate_id, "agg_id");
  EXPECT_EQ(config.outbox.columns.type, "event_type");
  EXPECT_EQ(config.outbox.columns.payload, "body");
  EXPECT_EQ(config.outbox.columns.headers, "meta");
  EXPECT_EQ(config.sink.type, SinkType::kKafka);
  EXPECT_EQ(config.kafka.at("bootstrap.servers"), "k1:9092,k2:9092");
  EXPECT_EQ(config.kafka.at("linger.ms"), "5");
  EXPECT_EQ(config.kafka.at("enable.idempotence"), "true");
  EXPECT_EQ(config.kafka.at("acks"), "all");
  EXPECT_EQ(config.flow.max_in_flight_events, 1000u);
  EXPECT_EQ(config.flow.max_in_flight_bytes, 1048576u);
  EXPECT_EQ(config.log.level, "debug");
  EXPECT_EQ(config.shutdown.timeout, std::chrono::milliseconds(10000));
}

// Empty sections keep their defaults instead of failing.
TEST(ConfigTest, EmptySectionsKeepDefaults) {
  const Config config = ParseConfig(WithDsn("outbox:\nkafka:\nflow:\n"), {});
  EXPECT_EQ(config.outbox.topic, "outbox.event.{aggregate_type}");
  EXPECT_TRUE(config.kafka.empty());
}

// A file that is only comments behaves like no file.
TEST(ConfigTest, CommentOnlyFileIsEmpty) {
  const Config config = ParseConfig("# nothing here\n", {{"OUTBOX_RELAY_SOURCE_DSN", "x"},
                                                         {"OUTBOX_RELAY_SINK_TYPE", "stdout"}});
  EXPECT_EQ(config.source.dsn, "x");
}

// ---- Required DSN -----------------------------------------------------------------------------

// Without a DSN anywhere the error names source.dsn.
TEST(ConfigTest, RequiresDsn) {
  const ConfigError error = ErrorFrom("");
  EXPECT_EQ(error.key(), "source.dsn");
  EXPECT_THAT(error.what(), HasSubstr("required"));
}

// An empty DSN counts as missing.
TEST(ConfigTest, RejectsEmptyDsn) {
  EXPECT_EQ(ErrorFrom("source:\n  dsn: ''\n").key(), "source.dsn");
}

// ---- Unknown keys -----------------------------------------------------------------------------

// A misspelt nested key is named in full, with a suggestion.
TEST(ConfigTest, RejectsUnknownNestedKeyNamingIt) {
  const ConfigError error = ErrorFrom("source:\n  dns: x\n");
  EXPECT_EQ(error.key(), "source.dns");
  EXPECT_THAT(error.what(), HasSubstr("unknown key"));
  EXPECT_THAT(error.what(), HasSubstr("did you mean source.dsn?"));
}

// An unknown top-level section is rejected.
TEST(ConfigTest, RejectsUnknownTopLevelKey) {
  const ConfigError error = ErrorFrom(WithDsn("metrics:\n  port: 9000\n"));
  EXPECT_EQ(error.key(), "metrics");
  EXPECT_THAT(error.what(), HasSubstr("unknown key"));
}

// Unknown keys two levels down are named with their whole path.
TEST(ConfigTest, RejectsUnknownKeyUnderColumns) {
  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  columns:\n    tenant: t\n")).key(),
            "outbox.columns.tenant");
}

// A name far from every key gets no misleading suggestion.
TEST(ConfigTest, UnrelatedUnknownKeyHasNoSuggestion) {
  EXPECT_THAT(ErrorFrom(WithDsn("foo: 1\n")).what(), Not(HasSubstr("did you mean")));
}

// Anything under kafka is passed through, however unusual.
TEST(ConfigTest, KafkaKeysAreNotCheckedForUnknownNames) {
  const Config config = ParseConfig(WithDsn("kafka:\n  some.future.property: x\n"), {});
  EXPECT_EQ(config.kafka.at("some.future.property"), "x");
}

// The same key twice in the file is reported rather than one silently winning.
TEST(ConfigTest, RejectsDuplicateKey) {
  EXPECT_EQ(ErrorFrom("source:\n  dsn: a\n  dsn: b\n").key(), "source.dsn");
}

// ---- Types ------------------------------------------------------------------------------------

// A mapping where a scalar belongs names the key and the expected type.
TEST(ConfigTest, RejectsMapForScalarKey) {
  const ConfigError error = ErrorFrom(WithDsn("source:\n  slot:\n    a: b\n"));
  EXPECT_EQ(error.key(), "source.slot");
  EXPECT_THAT(error.what(), HasSubstr("expected a string"));
}

// A scalar where a section belongs is rejected naming the section.
TEST(ConfigTest, RejectsScalarForSection) {
  const ConfigError error = ErrorFrom(WithDsn("flow: 5\n"));
  EXPECT_EQ(error.key(), "flow");
  EXPECT_THAT(error.what(), HasSubstr("mapping"));
}

// A key present with no value is an error, not a silent default.
TEST(ConfigTest, RejectsNullValue) {
  const ConfigError error = ErrorFrom(WithDsn("log:\n  level:\n"));
  EXPECT_EQ(error.key(), "log.level");
  EXPECT_THAT(error.what(), HasSubstr("expected a string"));
}

// A sequence is not a valid kafka property value.
TEST(ConfigTest, RejectsSequenceKafkaValue) {
  EXPECT_EQ(ErrorFrom(WithDsn("kafka:\n  bootstrap.servers: [a, b]\n")).key(),
            "kafka.bootstrap.servers");
}

// The top level must be a mapping.
TEST(ConfigTest, RejectsNonMappingTopLevel) {
  EXPECT_EQ(ErrorFrom("- a\n- b\n").key(), "config");
}

// ---- Every key's bad value names the key ------------------------------------------------------

struct BadValue {
  std::string yaml;         // appended to the minimal file
  std::string key;          // the key the error must name
  std::string expect_text;  // a fragment the message must contain
};

class BadValueTest : public ::testing::TestWithParam<BadValue> {};

// Each bad value fails naming its own key and saying what was expected.
TEST_P(BadValueTest, NamesTheKey) {
  const ConfigError error = ErrorFrom(WithDsn(GetParam().yaml));
  EXPECT_EQ(error.key(), GetParam().key) << error.what();
  EXPECT_THAT(error.what(), HasSubstr(GetParam().expect_text));
}

INSTANTIATE_TEST_SUITE_P(
    EveryKey, BadValueTest,
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
                 "at least source.reconnect_backoff_initial_ms"},
        BadValue{"outbox:\n  tables: a.b.c\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: .t\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: s.\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: ''\n", "outbox.tables", "at least one table"},
        BadValue{"outbox:\n  tables: 'a.t,'\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: [a.t, a.t]\n", "outbox.tables", "lists a.t twice"},
        BadValue{"outbox:\n  tables: [a.t, [b]]\n", "outbox.tables[1]", "expected a name"},
        BadValue{"outbox:\n  capture: rows\n", "outbox.capture", "table, messages, both"},
        BadValue{"outbox:\n  message_prefixes: [a, '']\n", "outbox.message_prefixes", "empty prefix"},
        BadValue{"outbox:\n  message_prefixes: outbox-relay.heartbeat\n",
                 "outbox.message_prefixes", "heartbeat"},
        BadValue{"outbox:\n  format: avro\n", "outbox.format",
                 "payload, envelope, cloudevents-binary, cloudevents-structured"},
        BadValue{"outbox:\n  cloudevents:\n    source: /a b\n", "outbox.cloudevents.source",
                 "URI-reference"},
        BadValue{"outbox:\n  key: ''\n  routes:\n    - {type: X}\n", "outbox.routes[0]",
                 "sets none of topic, key, format"},
        BadValue{"outbox:\n  topic: ''\n", "outbox.topic", "empty"},
        BadValue{"outbox:\n  columns:\n    id: ''\n", "outbox.columns.id", "empty"},
        BadValue{"outbox:\n  columns:\n    aggregate_type: ''\n", "outbox.columns.aggregate_type",
                 "empty"},
        BadValue{"outbox:\n  columns:\n    aggregate_id: ''\n", "outbox.columns.aggregate_id",
                 "empty"},
        BadValue{"outbox:\n  columns:\n    type: ''\n", "outbox.columns.type", "empty"},
        BadValue{"outbox:\n  columns:\n    payload: ''\n", "outbox.columns.payload", "empty"},
        BadValue{"outbox:\n  columns:\n    headers: ''\n", "outbox.columns.headers", "empty"},
        BadValue{"outbox:\n  columns:\n    payload: id\n", "outbox.columns.payload",
                 "already used by outbox.columns.id"},
        BadValue{"sink:\n  type: file\n", "sink.type", "stdout, kafka"},
        BadValue{"delivery: exactly_once\n", "delivery", "at-least-once, exactly-once"},
        BadValue{"delivery:\n  mode: exactly-once\n", "delivery", "expected a string"},
        BadValue{"exactly_once:\n  max_batch_events: 0\n", "exactly_once.max_batch_events",
                 "at least 1"},
        BadValue{"exactly_once:\n  max_batch_events: many\n", "exactly_once.max_batch_events",
                 "integer"},
        BadValue{"exactly_once:\n  max_batch_ms: 0\n", "exactly_once.max_batch_ms",
                 "between 1 and 3600000"},
        BadValue{"exactly_once:\n  max_batch_ms: 3600001\n", "exactly_once.max_batch_ms",
                 "between 1 and 3600000"},
        BadValue{"exactly_once:\n  checkpoint_topic: 'relay/checkpoints'\n",
                 "exactly_once.checkpoint_topic", "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_topic: ''\n", "exactly_once.checkpoint_topic",
                 "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_topic: '..'\n", "exactly_once.checkpoint_topic",
                 "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_topic: " + std::string(250, 'c') + "\n",
                 "exactly_once.checkpoint_topic", "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_replication_factor: -1\n",
                 "exactly_once.checkpoint_replication_factor", "non-negative integer"},
        BadValue{"exactly_once:\n  transactional_id:\n    a: b\n", "exactly_once.transactional_id",
                 "expected a string"},
        BadValue{"exactly_once:\n  transaction_timeout_ms: 999\n",
                 "exactly_once.transaction_timeout_ms", "between 1000 and 3600000"},
        BadValue{"exactly_once:\n  transaction_timeout_ms: soon\n",
                 "exactly_once.transaction_timeout_ms", "integer"},
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

// ---- Table ------------------------------------------------------------------------------------

// A bare table name lives in the public schema.
TEST(ConfigTest, BareTableDefaultsToPublicSchema) {
  const Config config = ParseConfig(WithDsn("outbox:\n  tables: events\n"), {});
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"public", "events"}}));
}

// "schema.table" splits on the dot, keeping case as written.
TEST(ConfigTest, QualifiedTableSplitsOnDot) {
  const Config config = ParseConfig(WithDsn("outbox:\n  tables: Billing.Outbox\n"), {});
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"Billing", "Outbox"}}));
}

// ---- Topic template ---------------------------------------------------------------------------

// A fixed topic without placeholders is accepted.
TEST(ConfigTest, AcceptsFixedTopic) {
  EXPECT_EQ(ParseConfig(WithDsn("outbox:\n  topic: all-events_v1\n"), {}).outbox.topic,
            "all-events_v1");
}

// Both known placeholders may be combined with static text.
TEST(ConfigTest, AcceptsBothPlaceholders) {
  EXPECT_EQ(ParseConfig(WithDsn("outbox:\n  topic: 'x.{aggregate_type}-{type}'\n"), {})
                .outbox.topic,
            "x.{aggregate_type}-{type}");
}

// An unknown placeholder is named in the error.
TEST(ConfigTest, RejectsUnknownTopicPlaceholder) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  topic: 'events.{tenant}'\n"));
  EXPECT_EQ(error.key(), "outbox.topic");
  EXPECT_THAT(error.what(), HasSubstr("{tenant}"));
}

// An opening brace without its closing one is rejected.
TEST(ConfigTest, RejectsUnclosedTopicBrace) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  topic: 'events.{type'\n"));
  EXPECT_EQ(error.key(), "outbox.topic");
  EXPECT_THAT(error.what(), HasSubstr("unbalanced"));
}

// A closing brace without an opening one is rejected.
TEST(ConfigTest, RejectsStrayClosingTopicBrace) {
  EXPECT_THAT(ErrorFrom(WithDsn("outbox:\n  topic: 'events}'\n")).what(),
              HasSubstr("unbalanced"));
}

// Nested braces are unbalanced, not a placeholder.
TEST(ConfigTest, RejectsNestedTopicBraces) {
  EXPECT_THAT(ErrorFrom(WithDsn("outbox:\n  topic: '{{type}}'\n")).what(),
              HasSubstr("unbalanced"));
}

// Static text outside Kafka's topic alphabet is rejected.
TEST(ConfigTest, RejectsInvalidTopicCharacter) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  topic: 'events/{type}'\n"));
  EXPECT_EQ(error.key(), "outbox.topic");
  EXPECT_THAT(error.what(), HasSubstr("'/'"));
}

// ---- Kafka ------------------------------------------------------------------------------------

// The kafka sink needs bootstrap servers.
TEST(ConfigTest, KafkaSinkRequiresBootstrapServers) {
  const ConfigError error = ErrorFrom(WithDsn("sink:\n  type: kafka\n"));
  EXPECT_EQ(error.key(), "kafka.bootstrap.servers");
  EXPECT_THAT(error.what(), HasSubstr("required"));
}

// Without sink.type and without Kafka settings nothing says where events go: a config error
// naming sink.type, never a silent stdout sink that would confirm the slot.
TEST(ConfigTest, NoSinkAndNoKafkaSettingsIsAnError) {
  const ConfigError error = ErrorFrom(kDsnOnly);
  EXPECT_EQ(error.key(), "sink.type");
  EXPECT_THAT(error.what(), HasSubstr("sink.type: kafka"));
  EXPECT_THAT(error.what(), HasSubstr("sink.type: stdout"));
}

// A kafka section without sink.type means the Kafka sink.
TEST(ConfigTest, KafkaSectionSelectsKafkaSink) {
  const Config config = ParseConfig(std::string(kDsnOnly) + "kafka:\n  bootstrap.servers: k:9092\n", {});
  EXPECT_EQ(config.sink.type, SinkType::kKafka);
  EXPECT_TRUE(config.sink.chosen_by_kafka_section);
}

// Kafka settings from the environment count as a kafka section.
TEST(ConfigTest, KafkaVariablesSelectKafkaSink) {
  const Config config = ParseConfig(kDsnOnly, {{"OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"}});
  EXPECT_EQ(config.sink.type, SinkType::kKafka);
}

// A kafka section without servers and without sink.type still asks for the servers.
TEST(ConfigTest, KafkaSectionWithoutServersNamesThem) {
  EXPECT_EQ(ErrorFrom(std::string(kDsnOnly) + "kafka:\n  linger.ms: 5\n").key(), "kafka.bootstrap.servers");
}

// An explicit sink.type is taken as written, Kafka settings or not.
TEST(ConfigTest, ExplicitSinkTypeWins) {
  const Config config =
      ParseConfig(WithDsn("sink:\n  type: stdout\nkafka:\n  bootstrap.servers: k:9092\n"), {});
  EXPECT_EQ(config.sink.type, SinkType::kStdout);
  EXPECT_FALSE(config.sink.chosen_by_kafka_section);
  EXPECT_FALSE(ParseConfig(WithDsn("sink:\n  type: kafka\nkafka:\n  bootstrap.servers: k:9092\n"), {})
                   .sink.chosen_by_kafka_section);
}

// The stdout sink does not need any Kafka settings.
TEST(ConfigTest, StdoutSinkDoesNotRequireBootstrapServers) {
  EXPECT_NO_THROW(ParseConfig(WithDsn("sink:\n  type: stdout\n"), {}));
}

// Plain YAML booleans reach librdkafka as true/false; numbers and quoted text as written.
TEST(ConfigTest, KafkaValuesAreStringified) {
  const Config config = ParseConfig(WithDsn(R"(kafka:
  enable.idempotence: yes
  socket.keepalive.enable: False
  linger.ms: 05
  client.id: 'on'
  compression.type: lz4
)"),
                                    {});
  EXPECT_EQ(config.kafka.at("enable.idempotence"), "true");
  EXPECT_EQ(config.kafka.at("socket.keepalive.enable"), "false");
  EXPECT_EQ(config.kafka.at("linger.ms"), "05");
  EXPECT_EQ(config.kafka.at("client.id"), "on");
  EXPECT_EQ(config.kafka.at("compression.type"), "lz4");
}

// Nested kafka maps are flattened into dotted property names.
TEST(ConfigTest, NestedKafkaMapsAreFlattened) {
  const Config config = ParseConfig(WithDsn("kafka:\n  bootstrap:\n    servers: k:9092\n"), {});
  EXPECT_EQ(config.kafka.at("bootstrap.servers"), "k:9092");
}

// Turning idempotence off is refused with the reason.
TEST(ConfigTest, RejectsDisabledIdempotence) {
  const ConfigError error = ErrorFrom(WithDsn("kafka:\n  enable.idempotence: false\n"));
  EXPECT_EQ(error.key(), "kafka.enable.idempotence");
  EXPECT_THAT(error.what(), HasSubstr("the relay's delivery contract needs"));
}

// acks weaker than all is refused with the reason.
TEST(ConfigTest, RejectsWeakAcks) {
  const ConfigError error = ErrorFrom(WithDsn("kafka:\n  acks: 1\n"));
  EXPECT_EQ(error.key(), "kafka.acks");
  EXPECT_THAT(error.what(), HasSubstr("the relay's delivery contract needs"));
}

// librdkafka's alias for acks is held to the same rule.
TEST(ConfigTest, RejectsWeakRequestRequiredAcks) {
  EXPECT_EQ(ErrorFrom(WithDsn("kafka:\n  request.required.acks: 0\n")).key(),
            "kafka.request.required.acks");
}

// acks: -1 is the numeric spelling of all.
TEST(ConfigTest, AcceptsNumericAllAcks) {
  EXPECT_EQ(ParseConfig(WithDsn("kafka:\n  acks: -1\n"), {}).kafka.at("acks"), "-1");
}

// librdkafka's queue must be bigger than the relay's own in-flight cap.
TEST(ConfigTest, RejectsQueueBufferingNotAboveInFlightCap) {
  const ConfigError error = ErrorFrom(
      WithDsn("flow:\n  max_in_flight_events: 1000\nkafka:\n  queue.buffering.max.messages: "
              "1000\n"));
  EXPECT_EQ(error.key(), "kafka.queue.buffering.max.messages");
  EXPECT_THAT(error.what(), HasSubstr("flow.max_in_flight_events (1000)"));
}

// A queue bigger than the cap is fine.
TEST(ConfigTest, AcceptsQueueBufferingAboveInFlightCap) {
  EXPECT_NO_THROW(ParseConfig(
      WithDsn("flow:\n  max_in_flight_events: 1000\nkafka:\n  queue.buffering.max.messages: "
              "1001\n"),
      {}));
}

// A non-numeric queue size is a type error on that property.
TEST(ConfigTest, RejectsNonNumericQueueBuffering) {
  const ConfigError error = ErrorFrom(WithDsn("kafka:\n  queue.buffering.max.messages: lots\n"));
  EXPECT_EQ(error.key(), "kafka.queue.buffering.max.messages");
  EXPECT_THAT(error.what(), HasSubstr("integer"));
}

// ---- Environment ------------------------------------------------------------------------------

// Environment variables alone can configure the relay.
TEST(ConfigTest, EnvironmentOverridesKeys) {
  const Config config = ParseConfig("", {{"OUTBOX_RELAY_SOURCE_DSN", "host=env"},
                                         {"OUTBOX_RELAY_SINK_TYPE", "stdout"},
                                         {"OUTBOX_RELAY_OUTBOX_COLUMNS_AGGREGATE_ID", "agg"},
                                         {"OUTBOX_RELAY_FLOW_MAX_IN_FLIGHT_EVENTS", "7"},
                                         {"OUTBOX_RELAY_SOURCE_CREATE_SLOT", "false"},
                                         {"OUTBOX_RELAY_OUTBOX_TABLES", "s.t, u.v"}});
  EXPECT_EQ(config.source.dsn, "host=env");
  EXPECT_EQ(config.outbox.columns.aggregate_id, "agg");
  EXPECT_EQ(config.flow.max_in_flight_events, 7u);
  EXPECT_FALSE(config.source.create_slot);
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"s", "t"}, {"u", "v"}}));
}

// The environment wins over the file.
TEST(ConfigTest, EnvironmentBeatsFile) {
  const Config config =
      ParseConfig("sink:\n  type: stdout\nsource:\n  dsn: host=file\n  slot: from_file\n",
                  {{"OUTBOX_RELAY_SOURCE_SLOT", "from_env"}});
  EXPECT_EQ(config.source.slot, "from_env");
  EXPECT_EQ(config.source.dsn, "host=file");
}

// A bad file value overridden by a good env value is fine: validation sees the merged result.
TEST(ConfigTest, ValidatesAfterMerging) {
  const Config config = ParseConfig(WithDsn("log:\n  level: loud\n"),
                                    {{"OUTBOX_RELAY_LOG_LEVEL", "warn"}});
  EXPECT_EQ(config.log.level, "warn");
}

// OUTBOX_RELAY_KAFKA_* becomes a lower-cased, dotted librdkafka property.
TEST(ConfigTest, EnvironmentKafkaPassthrough) {
  const Config config =
      ParseConfig(WithDsn("sink:\n  type: kafka\n"),
                  {{"OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"},
                   {"OUTBOX_RELAY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"}});
  EXPECT_EQ(config.kafka.at("bootstrap.servers"), "k:9092");
  EXPECT_EQ(config.kafka.at("security.protocol"), "SASL_SSL");
}

// A Kafka property from the environment replaces the file's.
TEST(ConfigTest, EnvironmentKafkaBeatsFile) {
  const Config config = ParseConfig(WithDsn("kafka:\n  linger.ms: 5\n"),
                                    {{"OUTBOX_RELAY_KAFKA_LINGER_MS", "20"}});
  EXPECT_EQ(config.kafka.at("linger.ms"), "20");
}

// An OUTBOX_RELAY_ variable that matches no key is named, with a suggestion.
TEST(ConfigTest, RejectsUnknownEnvironmentVariable) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SOURCE_DNS", "x"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_SOURCE_DNS");
  EXPECT_THAT(error.what(), HasSubstr("did you mean OUTBOX_RELAY_SOURCE_DSN?"));
}

// Variables without the prefix are none of the relay's business.
TEST(ConfigTest, IgnoresOtherVariables) {
  EXPECT_NO_THROW(ParseConfig(kMinimal, {{"PATH", "/bin"}, {"OUTBOX_RELAYX", "1"}}));
}

// A Service named outbox-relay (or outbox-relay-<x>) makes Kubernetes inject these into every
// pod of the namespace; they are recognised by name and value, ignored and listed.
TEST(ConfigTest, IgnoresKubernetesServiceLinks) {
  const Environment links = {
      {"OUTBOX_RELAY_SERVICE_HOST", "10.0.0.1"},
      {"OUTBOX_RELAY_SERVICE_PORT", "9742"},
      {"OUTBOX_RELAY_SERVICE_PORT_HTTP", "9742"},
      {"OUTBOX_RELAY_SERVICE_PORT_HTTP_METRICS", "9742"},
      {"OUTBOX_RELAY_PORT", "tcp://10.0.0.1:8080"},
      {"OUTBOX_RELAY_PORT_8080_TCP", "tcp://10.0.0.1:8080"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PROTO", "tcp"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PORT", "8080"},
      {"OUTBOX_RELAY_PORT_8080_TCP_ADDR", "10.0.0.1"},
      {"OUTBOX_RELAY_PORT_53_UDP", "udp://[fd00::1]:53"},
      {"OUTBOX_RELAY_METRICS_SERVICE_HOST", "fd00::2"},
      {"OUTBOX_RELAY_METRICS_PORT_9742_SCTP_ADDR", "10.0.0.2"},
  };
  const Config config = ParseConfig(kMinimal, links);
  std::vector<std::string> expected;
  for (const auto& entry : links) expected.push_back(entry.first);
  EXPECT_EQ(config.ignored_service_links, expected);
}

// Only the exact shapes are service links: a near miss in name or value stays an error naming
// the variable, so a typo in a real key is never ignored.
TEST(ConfigTest, NearMissesOfServiceLinksAreErrors) {
  const std::vector<std::pair<std::string, std::string>> near_misses = {
      {"OUTBOX_RELAY_SOURCE_DSNN", "x"},
      {"OUTBOX_RELAY_PORT", "9742"},
      {"OUTBOX_RELAY_PORT", "http://10.0.0.1:8080"},
      {"OUTBOX_RELAY_PORT", "tcp://db.example:8080"},
      {"OUTBOX_RELAY_SERVICE_HOST", "db.example"},
      {"OUTBOX_RELAY_SERVICE_PORT", "http"},
      {"OUTBOX_RELAY_SERVICE_PORT", "70000"},
      {"OUTBOX_RELAY_PORT_8080_TCP", "tcp://10.0.0.1:9090"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PROTO", "udp"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PORT", "9090"},
      {"OUTBOX_RELAY_PORT_8080_TCP_HOST", "10.0.0.1"},
      {"OUTBOX_RELAY_PORT_8080_HTTP", "tcp://10.0.0.1:8080"},
      {"OUTBOX_RELAY_HTTP_PORT", "9742"},
      {"OUTBOX_RELAY_SERVICE", "10.0.0.1"},
  };
  for (const auto& [variable, value] : near_misses) {
    const ConfigError error = ErrorFrom(kMinimal, {{variable, value}});
    EXPECT_EQ(error.key(), variable) << variable << "=" << value;
    EXPECT_THAT(error.what(), HasSubstr("matches no configuration key")) << variable << "=" << value;
  }
}

// Errors in environment values name the variable, not the dotted key.
TEST(ConfigTest, EnvironmentErrorsNameTheVariable) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS", "soon"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS");
  EXPECT_THAT(error.what(), HasSubstr("integer"));
}

// Range errors found after merging also name the variable that set the value.
TEST(ConfigTest, EnvironmentRangeErrorsNameTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_LOG_LEVEL", "loud"}}).key(),
            "OUTBOX_RELAY_LOG_LEVEL");
}

// Kafka contract errors from the environment name the variable.
TEST(ConfigTest, EnvironmentKafkaErrorsNameTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_KAFKA_ACKS", "0"}}).key(),
            "OUTBOX_RELAY_KAFKA_ACKS");
}

// A required DSN set to empty through the environment names the variable.
TEST(ConfigTest, EmptyDsnFromEnvironmentNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SOURCE_DSN", ""}}).key(),
            "OUTBOX_RELAY_SOURCE_DSN");
}

// ---- Secrets ----------------------------------------------------------------------------------

// A DSN in the wrong shape is reported without its content.
TEST(ConfigTest, DsnValueNeverInMessages) {
  const ConfigError error = ErrorFrom("source:\n  dsn: [hunter2-password]\n");
  EXPECT_EQ(error.key(), "source.dsn");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

// Secret kafka values stay out of messages about other kafka properties.
TEST(ConfigTest, KafkaSecretValuesNeverInMessages) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_KAFKA_SASL_PASSWORD", "s3cr3t"},
                                                 {"OUTBOX_RELAY_KAFKA_ACKS", "1"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_KAFKA_ACKS");
  EXPECT_THAT(error.what(), Not(HasSubstr("s3cr3t")));
}

// A YAML syntax error next to the DSN does not quote it.
TEST(ConfigTest, MalformedYamlDoesNotQuoteDsn) {
  const ConfigError error = ErrorFrom("source:\n  dsn: \"password=hunter2\" x\n");
  EXPECT_EQ(error.key(), "config");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

// A secret-looking kafka value in the wrong shape does not leak into the message.
TEST(ConfigTest, KafkaSecretInBadShapeIsHidden) {
  const ConfigError error =
      ErrorFrom(WithDsn("kafka:\n  ssl.key.password:\n    - topsecretvalue\n"));
  EXPECT_EQ(error.key(), "kafka.ssl.key.password");
  EXPECT_THAT(error.what(), Not(HasSubstr("topsecretvalue")));
}

// Values of ordinary keys are quoted in errors, so hiding is limited to secrets.
TEST(ConfigTest, NonSecretValuesAreQuotedInErrors) {
  EXPECT_THAT(ErrorFrom(WithDsn("kafka:\n  queue.buffering.max.messages: lots\n")).what(),
              HasSubstr("\"lots\""));
}

// An error on another key never echoes the DSN from the environment.
TEST(ConfigTest, DsnFromEnvironmentNeverInMessages) {
  const ConfigError error = ErrorFrom("", {{"OUTBOX_RELAY_SOURCE_DSN", "password=hunter2"},
                                           {"OUTBOX_RELAY_SOURCE_SLOT", "Bad"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_SOURCE_SLOT");
  EXPECT_THAT(error.what(), Not(HasSubstr("hunter2")));
}

// ---- Malformed YAML ---------------------------------------------------------------------------

// Broken YAML is reported under "config" with yaml-cpp's position.
TEST(ConfigTest, MalformedYamlHasLineInfo) {
  const ConfigError error = ErrorFrom("source:\n  dsn: x\n  slot: [a\n");
  EXPECT_EQ(error.key(), "config");
  EXPECT_THAT(error.what(), HasSubstr("line "));
  EXPECT_THAT(error.what(), HasSubstr("column "));
}

// A mapping value in an illegal place points at its line.
TEST(ConfigTest, MalformedYamlPointsAtTheLine) {
  EXPECT_THAT(ErrorFrom("source:\n  dsn: a: b\n").what(), HasSubstr("line 2"));
}

// ---- LoadConfig / ProcessEnvironment ----------------------------------------------------------

// An empty path means no file: defaults plus environment.
TEST(ConfigTest, LoadConfigWithoutPathUsesEnvironment) {
  EXPECT_EQ(LoadConfig("", {{"OUTBOX_RELAY_SOURCE_DSN", "host=x"}, {"OUTBOX_RELAY_SINK_TYPE", "stdout"}})
                .source.dsn,
            "host=x");
}

// A file that cannot be opened is reported under "config" with the reason.
TEST(ConfigTest, LoadConfigReportsUnreadableFile) {
  try {
    LoadConfig("/nonexistent/outbox-relay.yaml", {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key(), "config");
    EXPECT_THAT(error.what(), HasSubstr("cannot read /nonexistent/outbox-relay.yaml: No such file"));
  }
}

// A directory is not a readable config file.
TEST(ConfigTest, LoadConfigReportsDirectory) {
  try {
    LoadConfig(std::filesystem::temp_directory_path().string(), {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.key(), "config");
    EXPECT_THAT(error.what(), HasSubstr("cannot read"));
  }
}

// A real file is read and parsed.
TEST(ConfigTest, LoadConfigReadsFile) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("outbox_relay_config_test_" + std::to_string(::getpid()) +
                                      ".yaml");
  {
    std::ofstream out(path);
    out << "source:\n  dsn: host=file\nsink:\n  type: stdout\nlog:\n  level: warn\n";
  }
  const Config config = LoadConfig(path.string(), {});
  std::filesystem::remove(path);
  EXPECT_EQ(config.source.dsn, "host=file");
  EXPECT_EQ(config.log.level, "warn");
}

// The process environment's OUTBOX_RELAY_ variables are picked up.
TEST(ConfigTest, ProcessEnvironmentReadsPrefixedVariables) {
  ::setenv("OUTBOX_RELAY_CONFIG_TEST_PROBE", "v=1", 1);
  const Environment env = ProcessEnvironment();
  ::unsetenv("OUTBOX_RELAY_CONFIG_TEST_PROBE");
  ASSERT_EQ(env.count("OUTBOX_RELAY_CONFIG_TEST_PROBE"), 1u);
  EXPECT_EQ(env.at("OUTBOX_RELAY_CONFIG_TEST_PROBE"), "v=1");
  EXPECT_EQ(env.count("PATH"), 0u);
}

}  // namespace
}  // namespace outbox_relay::config
