// The kafka.* properties the delivery contract depends on (config/kafka_properties.cpp):
// bootstrap servers, idempotence, acks, and librdkafka's queue against the in-flight cap. The
// transactional properties of exactly-once: exactly_once_config_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

using namespace outbox_relay::config::test_support;

// The kafka sink needs bootstrap servers.
TEST(KafkaPropertiesTest, KafkaSinkRequiresBootstrapServers) {
  const ConfigError error = ErrorFrom(WithDsn("sink:\n  type: kafka\n"));
  EXPECT_EQ(error.key(), "kafka.bootstrap.servers");
  EXPECT_THAT(error.what(), HasSubstr("required"));
}

// A kafka section without servers and without sink.type still asks for the servers.
TEST(KafkaPropertiesTest, KafkaSectionWithoutServersNamesThem) {
  EXPECT_EQ(ErrorFrom(std::string(kDsnOnly) + "kafka:\n  linger.ms: 5\n").key(), "kafka.bootstrap.servers");
}

// Turning idempotence off is refused with the reason.
TEST(KafkaPropertiesTest, RejectsDisabledIdempotence) {
  const ConfigError error = ErrorFrom(WithDsn("kafka:\n  enable.idempotence: false\n"));
  EXPECT_EQ(error.key(), "kafka.enable.idempotence");
  EXPECT_THAT(error.what(), HasSubstr("the relay's delivery contract needs"));
}

// acks weaker than all is refused with the reason.
TEST(KafkaPropertiesTest, RejectsWeakAcks) {
  const ConfigError error = ErrorFrom(WithDsn("kafka:\n  acks: 1\n"));
  EXPECT_EQ(error.key(), "kafka.acks");
  EXPECT_THAT(error.what(), HasSubstr("the relay's delivery contract needs"));
}

// librdkafka's alias for acks is held to the same rule.
TEST(KafkaPropertiesTest, RejectsWeakRequestRequiredAcks) {
  EXPECT_EQ(ErrorFrom(WithDsn("kafka:\n  request.required.acks: 0\n")).key(),
            "kafka.request.required.acks");
}

// acks: -1 is the numeric spelling of all.
TEST(KafkaPropertiesTest, AcceptsNumericAllAcks) {
  EXPECT_EQ(ParseConfig(WithDsn("kafka:\n  acks: -1\n"), {}).kafka.at("acks"), "-1");
}

// librdkafka's queue must be bigger than the relay's own in-flight cap.
TEST(KafkaPropertiesTest, RejectsQueueBufferingNotAboveInFlightCap) {
  const ConfigError error = ErrorFrom(
      WithDsn("flow:\n  max_in_flight_events: 1000\nkafka:\n  queue.buffering.max.messages: "
              "1000\n"));
  EXPECT_EQ(error.key(), "kafka.queue.buffering.max.messages");
  EXPECT_THAT(error.what(), HasSubstr("flow.max_in_flight_events (1000)"));
}

// A queue bigger than the cap is fine.
TEST(KafkaPropertiesTest, AcceptsQueueBufferingAboveInFlightCap) {
  EXPECT_NO_THROW(ParseConfig(
      WithDsn("flow:\n  max_in_flight_events: 1000\nkafka:\n  queue.buffering.max.messages: "
              "1001\n"),
      {}));
}

// A non-numeric queue size is a type error on that property.
TEST(KafkaPropertiesTest, RejectsNonNumericQueueBuffering) {
  const ConfigError error = ErrorFrom(WithDsn("kafka:\n  queue.buffering.max.messages: lots\n"));
  EXPECT_EQ(error.key(), "kafka.queue.buffering.max.messages");
  EXPECT_THAT(error.what(), HasSubstr("integer"));
}

}  // namespace
}  // namespace outbox_relay::config
