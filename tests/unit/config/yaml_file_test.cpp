// Reading the YAML file (config/yaml_file.cpp): sections, unknown keys, value shapes, kafka
// properties as librdkafka gets them, and YAML that does not parse.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using namespace outbox_relay::config::test_support;

// Empty sections keep their defaults instead of failing.
TEST(YamlFileTest, EmptySectionsKeepDefaults) {
  const Config config = ParseConfig(WithDsn("outbox:\nkafka:\nflow:\n"), {});
  EXPECT_EQ(config.outbox.topic, "outbox.event.{aggregate_type}");
  EXPECT_TRUE(config.kafka.empty());
}

// A file that is only comments behaves like no file.
TEST(YamlFileTest, CommentOnlyFileIsEmpty) {
  const Config config = ParseConfig("# nothing here\n", {{"OUTBOX_RELAY_SOURCE_DSN", "x"},
                                                         {"OUTBOX_RELAY_SINK_TYPE", "stdout"}});
  EXPECT_EQ(config.source.dsn, "x");
}

// ---- Unknown keys -----------------------------------------------------------------------------

// A misspelt nested key is named in full, with a suggestion.
TEST(YamlFileTest, RejectsUnknownNestedKeyNamingIt) {
  const ConfigError error = ErrorFrom("source:\n  dns: x\n");
  EXPECT_EQ(error.key(), "source.dns");
  EXPECT_THAT(error.what(), HasSubstr("unknown key"));
  EXPECT_THAT(error.what(), HasSubstr("did you mean source.dsn?"));
}

// An unknown top-level section is rejected.
TEST(YamlFileTest, RejectsUnknownTopLevelKey) {
  const ConfigError error = ErrorFrom(WithDsn("metrics:\n  port: 9000\n"));
  EXPECT_EQ(error.key(), "metrics");
  EXPECT_THAT(error.what(), HasSubstr("unknown key"));
}

// Unknown keys two levels down are named with their whole path.
TEST(YamlFileTest, RejectsUnknownKeyUnderColumns) {
  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  columns:\n    tenant: t\n")).key(),
            "outbox.columns.tenant");
}

// A name far from every key gets no misleading suggestion.
TEST(YamlFileTest, UnrelatedUnknownKeyHasNoSuggestion) {
  EXPECT_THAT(ErrorFrom(WithDsn("foo: 1\n")).what(), Not(HasSubstr("did you mean")));
}

// Anything under kafka is passed through, however unusual.
TEST(YamlFileTest, KafkaKeysAreNotCheckedForUnknownNames) {
  const Config config = ParseConfig(WithDsn("kafka:\n  some.future.property: x\n"), {});
  EXPECT_EQ(config.kafka.at("some.future.property"), "x");
}

// The same key twice in the file is reported rather than one silently winning.
TEST(YamlFileTest, RejectsDuplicateKey) {
  EXPECT_EQ(ErrorFrom("source:\n  dsn: a\n  dsn: b\n").key(), "source.dsn");
}

// ---- Types ------------------------------------------------------------------------------------

// A mapping where a scalar belongs names the key and the expected type.
TEST(YamlFileTest, RejectsMapForScalarKey) {
  const ConfigError error = ErrorFrom(WithDsn("source:\n  slot:\n    a: b\n"));
  EXPECT_EQ(error.key(), "source.slot");
  EXPECT_THAT(error.what(), HasSubstr("expected a string"));
}

// A scalar where a section belongs is rejected naming the section.
TEST(YamlFileTest, RejectsScalarForSection) {
  const ConfigError error = ErrorFrom(WithDsn("flow: 5\n"));
  EXPECT_EQ(error.key(), "flow");
  EXPECT_THAT(error.what(), HasSubstr("mapping"));
}

// A key present with no value is an error, not a silent default.
TEST(YamlFileTest, RejectsNullValue) {
  const ConfigError error = ErrorFrom(WithDsn("log:\n  level:\n"));
  EXPECT_EQ(error.key(), "log.level");
  EXPECT_THAT(error.what(), HasSubstr("expected a string"));
}

// A sequence is not a valid kafka property value.
TEST(YamlFileTest, RejectsSequenceKafkaValue) {
  EXPECT_EQ(ErrorFrom(WithDsn("kafka:\n  bootstrap.servers: [a, b]\n")).key(),
            "kafka.bootstrap.servers");
}

// The top level must be a mapping.
TEST(YamlFileTest, RejectsNonMappingTopLevel) {
  EXPECT_EQ(ErrorFrom("- a\n- b\n").key(), "config");
}

// ---- Kafka properties ---------------------------------------------------------------------------

// Plain YAML booleans reach librdkafka as true/false; numbers and quoted text as written.
TEST(YamlFileTest, KafkaValuesAreStringified) {
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
TEST(YamlFileTest, NestedKafkaMapsAreFlattened) {
  const Config config = ParseConfig(WithDsn("kafka:\n  bootstrap:\n    servers: k:9092\n"), {});
  EXPECT_EQ(config.kafka.at("bootstrap.servers"), "k:9092");
}

// ---- Malformed YAML ---------------------------------------------------------------------------

// Broken YAML is reported under "config" with yaml-cpp's position.
TEST(YamlFileTest, MalformedYamlHasLineInfo) {
  const ConfigError error = ErrorFrom("source:\n  dsn: x\n  slot: [a\n");
  EXPECT_EQ(error.key(), "config");
  EXPECT_THAT(error.what(), HasSubstr("line "));
  EXPECT_THAT(error.what(), HasSubstr("column "));
}

// A mapping value in an illegal place points at its line.
TEST(YamlFileTest, MalformedYamlPointsAtTheLine) {
  EXPECT_THAT(ErrorFrom("source:\n  dsn: a: b\n").what(), HasSubstr("line 2"));
}

}  // namespace
}  // namespace outbox_relay::config
