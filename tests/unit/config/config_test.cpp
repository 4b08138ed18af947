// ParseConfig and LoadConfig as a whole (config/config.cpp): defaults, a full file, the sink a
// config selects, validation after merging, and reading the file. Each step has its own file:
// yaml_file_test, environment_test, service_links_test, secrets_test, kafka_properties_test,
// and <section>_keys_test for the keys of each section.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

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
  EXPECT_EQ(config.flow.max_in_flight_events, 5000u);
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

// ---- The sink -------------------------------------------------------------------------------

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

// An explicit sink.type is taken as written, Kafka settings or not.
TEST(ConfigTest, ExplicitSinkTypeWins) {
  const Config config = ParseConfig(WithDsn("sink:\n  type: stdout\nkafka:\n  bootstrap.servers: k:9092\n"), {});
  EXPECT_EQ(config.sink.type, SinkType::kStdout);
  EXPECT_FALSE(config.sink.chosen_by_kafka_section);
  EXPECT_FALSE(ParseConfig(WithDsn("sink:\n  type: kafka\nkafka:\n  bootstrap.servers: k:9092\n"), {})
                   .sink.chosen_by_kafka_section);
}

// The stdout sink does not need any Kafka settings.
TEST(ConfigTest, StdoutSinkDoesNotRequireBootstrapServers) {
  EXPECT_NO_THROW(ParseConfig(WithDsn("sink:\n  type: stdout\n"), {}));
}

// ---- Validation runs on the merged values ---------------------------------------------------

// A bad file value overridden by a good env value is fine: validation sees the merged result.
TEST(ConfigTest, ValidatesAfterMerging) {
  const Config config = ParseConfig(WithDsn("log:\n  level: loud\n"), {{"OUTBOX_RELAY_LOG_LEVEL", "warn"}});
  EXPECT_EQ(config.log.level, "warn");
}

// ---- LoadConfig -----------------------------------------------------------------------------

// An empty path means no file: defaults plus environment.
TEST(ConfigTest, LoadConfigWithoutPathUsesEnvironment) {
  EXPECT_EQ(
      LoadConfig("", {{"OUTBOX_RELAY_SOURCE_DSN", "host=x"}, {"OUTBOX_RELAY_SINK_TYPE", "stdout"}}).source.dsn,
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
                                     ("outbox_relay_config_test_" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(path);
    out << "source:\n  dsn: host=file\nsink:\n  type: stdout\nlog:\n  level: warn\n";
  }
  const Config config = LoadConfig(path.string(), {});
  std::filesystem::remove(path);
  EXPECT_EQ(config.source.dsn, "host=file");
  EXPECT_EQ(config.log.level, "warn");
}

}  // namespace
}  // namespace outbox_relay::config
