// Environment overrides (config/environment.cpp): OUTBOX_RELAY_<KEY> over the file,
// OUTBOX_RELAY_KAFKA_<PROPERTY> as librdkafka properties, errors naming the variable, and the
// process environment. Kubernetes service links: service_links_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

using namespace outbox_relay::config::test_support;

// Environment variables alone can configure the relay.
TEST(EnvironmentTest, EnvironmentOverridesKeys) {
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
TEST(EnvironmentTest, EnvironmentBeatsFile) {
  const Config config =
      ParseConfig("sink:\n  type: stdout\nsource:\n  dsn: host=file\n  slot: from_file\n",
                  {{"OUTBOX_RELAY_SOURCE_SLOT", "from_env"}});
  EXPECT_EQ(config.source.slot, "from_env");
  EXPECT_EQ(config.source.dsn, "host=file");
}

// OUTBOX_RELAY_KAFKA_* becomes a lower-cased, dotted librdkafka property.
TEST(EnvironmentTest, EnvironmentKafkaPassthrough) {
  const Config config =
      ParseConfig(WithDsn("sink:\n  type: kafka\n"),
                  {{"OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"},
                   {"OUTBOX_RELAY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"}});
  EXPECT_EQ(config.kafka.at("bootstrap.servers"), "k:9092");
  EXPECT_EQ(config.kafka.at("security.protocol"), "SASL_SSL");
}

// A Kafka property from the environment replaces the file's.
TEST(EnvironmentTest, EnvironmentKafkaBeatsFile) {
  const Config config = ParseConfig(WithDsn("kafka:\n  linger.ms: 5\n"),
                                    {{"OUTBOX_RELAY_KAFKA_LINGER_MS", "20"}});
  EXPECT_EQ(config.kafka.at("linger.ms"), "20");
}

// An OUTBOX_RELAY_ variable that matches no key is named, with a suggestion.
TEST(EnvironmentTest, RejectsUnknownEnvironmentVariable) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SOURCE_DNS", "x"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_SOURCE_DNS");
  EXPECT_THAT(error.what(), HasSubstr("did you mean OUTBOX_RELAY_SOURCE_DSN?"));
}

// Variables without the prefix are none of the relay's business.
TEST(EnvironmentTest, IgnoresOtherVariables) {
  EXPECT_NO_THROW(ParseConfig(kMinimal, {{"PATH", "/bin"}, {"OUTBOX_RELAYX", "1"}}));
}

// ---- Errors name the variable -----------------------------------------------------------------

// Errors in environment values name the variable, not the dotted key.
TEST(EnvironmentTest, EnvironmentErrorsNameTheVariable) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS", "soon"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS");
  EXPECT_THAT(error.what(), HasSubstr("integer"));
}

// Range errors found after merging also name the variable that set the value.
TEST(EnvironmentTest, EnvironmentRangeErrorsNameTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_LOG_LEVEL", "loud"}}).key(),
            "OUTBOX_RELAY_LOG_LEVEL");
}

// Kafka contract errors from the environment name the variable.
TEST(EnvironmentTest, EnvironmentKafkaErrorsNameTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_KAFKA_ACKS", "0"}}).key(),
            "OUTBOX_RELAY_KAFKA_ACKS");
}

// A required DSN set to empty through the environment names the variable.
TEST(EnvironmentTest, EmptyDsnFromEnvironmentNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_SOURCE_DSN", ""}}).key(),
            "OUTBOX_RELAY_SOURCE_DSN");
}

// ---- ProcessEnvironment -----------------------------------------------------------------------

// The process environment's OUTBOX_RELAY_ variables are picked up.
TEST(EnvironmentTest, ProcessEnvironmentReadsPrefixedVariables) {
  ::setenv("OUTBOX_RELAY_CONFIG_TEST_PROBE", "v=1", 1);
  const Environment env = ProcessEnvironment();
  ::unsetenv("OUTBOX_RELAY_CONFIG_TEST_PROBE");
  ASSERT_EQ(env.count("OUTBOX_RELAY_CONFIG_TEST_PROBE"), 1u);
  EXPECT_EQ(env.at("OUTBOX_RELAY_CONFIG_TEST_PROBE"), "v=1");
  EXPECT_EQ(env.count("PATH"), 0u);
}

}  // namespace
}  // namespace outbox_relay::config
