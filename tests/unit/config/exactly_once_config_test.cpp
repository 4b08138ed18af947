// The delivery mode and the exactly_once.* keys. Single-key bad values (types, ranges, topic
// names) are rows of DeliveryKeys/BadValueTest in delivery_keys_test.cpp; the rules that involve
// other keys, the mode or the environment are here.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"
#include "config/topic_template.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

using namespace outbox_relay::config::test_support;

// A valid exactly-once file (Kafka sink with servers) plus `exactly_once` and `kafka` entries,
// each given as indented lines of its section.
std::string ExactlyOnce(const std::string& exactly_once = "", const std::string& kafka = "") {
  return std::string(kDsnOnly) + "sink:\n  type: kafka\ndelivery: exactly-once\nexactly_once:\n" +
         exactly_once + "kafka:\n  bootstrap.servers: k:9092\n" + kafka;
}

// ---- Defaults ---------------------------------------------------------------------------------

// Without any of the new keys the relay runs at-least-once with the documented batch settings.
TEST(ExactlyOnceConfigTest, DefaultsWhenUnset) {
  const Config config = ParseConfig(kMinimal, {});
  EXPECT_EQ(config.delivery, DeliveryMode::kAtLeastOnce);
  EXPECT_EQ(config.exactly_once.max_batch_events, 10000u);
  EXPECT_EQ(config.exactly_once.max_batch, 100ms);
  EXPECT_EQ(config.exactly_once.checkpoint_topic, "outbox-relay.checkpoints");
  EXPECT_EQ(config.exactly_once.checkpoint_replication_factor, 0u);
  EXPECT_EQ(config.exactly_once.transactional_id, "");
  EXPECT_EQ(config.exactly_once.transaction_timeout, 60000ms);
}

// Choosing exactly-once alone changes the mode and keeps every exactly_once default.
TEST(ExactlyOnceConfigTest, ExactlyOnceKeepsBatchDefaults) {
  const Config config = ParseConfig(ExactlyOnce(), {});
  EXPECT_EQ(config.delivery, DeliveryMode::kExactlyOnce);
  EXPECT_EQ(config.exactly_once.max_batch_events, 10000u);
  EXPECT_EQ(config.exactly_once.transaction_timeout, 60000ms);
}

// at-least-once may also be written out.
TEST(ExactlyOnceConfigTest, AcceptsExplicitAtLeastOnce) {
  EXPECT_EQ(ParseConfig(std::string(kMinimal) + "delivery: at-least-once\n", {}).delivery,
            DeliveryMode::kAtLeastOnce);
}

// Every exactly_once key lands in its field.
TEST(ExactlyOnceConfigTest, ParsesEveryKey) {
  const Config config = ParseConfig(ExactlyOnce("  max_batch_events: 500\n"
                                                "  max_batch_ms: 250\n"
                                                "  checkpoint_topic: relay_cp.v1\n"
                                                "  checkpoint_replication_factor: 3\n"
                                                "  transactional_id: billing-relay\n"
                                                "  transaction_timeout_ms: 20000\n"),
                                    {});
  EXPECT_EQ(config.exactly_once.max_batch_events, 500u);
  EXPECT_EQ(config.exactly_once.max_batch, 250ms);
  EXPECT_EQ(config.exactly_once.checkpoint_topic, "relay_cp.v1");
  EXPECT_EQ(config.exactly_once.checkpoint_replication_factor, 3u);
  EXPECT_EQ(config.exactly_once.transactional_id, "billing-relay");
  EXPECT_EQ(config.exactly_once.transaction_timeout, 20000ms);
}

// ---- Transactional id -------------------------------------------------------------------------

// Without exactly_once.transactional_id the id is derived from the slot, one per slot.
TEST(ExactlyOnceConfigTest, TransactionalIdDefaultsToSlot) {
  const Config config = ParseConfig(ExactlyOnce(), {{"OUTBOX_RELAY_SOURCE_SLOT", "orders_1"}});
  EXPECT_EQ(config.exactly_once.TransactionalId(config.source.slot), "outbox-relay-orders_1");
  EXPECT_EQ(ExactlyOnceConfig{}.TransactionalId("outbox_relay"), "outbox-relay-outbox_relay");
}

// An explicit transactional id is used whatever the slot.
TEST(ExactlyOnceConfigTest, ExplicitTransactionalIdWins) {
  const Config config = ParseConfig(ExactlyOnce("  transactional_id: billing-relay\n"), {});
  EXPECT_EQ(config.exactly_once.TransactionalId("any_slot"), "billing-relay");
}

// ---- Rules that involve other keys ------------------------------------------------------------

// exactly-once needs Kafka transactions, so the stdout sink is refused naming delivery.
TEST(ExactlyOnceConfigTest, ExactlyOnceRequiresKafkaSink) {
  const ConfigError error = ErrorFrom(std::string(kMinimal) + "delivery: exactly-once\n");
  EXPECT_EQ(error.key(), "delivery");
  EXPECT_THAT(error.what(), HasSubstr("sink.type: kafka"));
}

// A transaction must outlive a batch: a timeout equal to max_batch_ms is refused, naming the timeout.
TEST(ExactlyOnceConfigTest, TransactionTimeoutMustExceedMaxBatch) {
  const ConfigError error =
      ErrorFrom(ExactlyOnce("  max_batch_ms: 5000\n  transaction_timeout_ms: 5000\n"));
  EXPECT_EQ(error.key(), "exactly_once.transaction_timeout_ms");
  EXPECT_THAT(error.what(), HasSubstr("greater than exactly_once.max_batch_ms"));
}

// One millisecond above max_batch_ms is enough.
TEST(ExactlyOnceConfigTest, AcceptsTransactionTimeoutJustAboveMaxBatch) {
  EXPECT_EQ(ParseConfig(ExactlyOnce("  max_batch_ms: 5000\n  transaction_timeout_ms: 5001\n"), {})
                .exactly_once.transaction_timeout,
            5001ms);
}

// A long max_batch_ms alone runs into the default transaction timeout, which the error names.
TEST(ExactlyOnceConfigTest, LongBatchAgainstDefaultTimeoutNamesTheTimeout) {
  EXPECT_EQ(ErrorFrom(ExactlyOnce("  max_batch_ms: 60000\n")).key(),
            "exactly_once.transaction_timeout_ms");
}

// The smallest transaction timeout, 1000 ms, is accepted with a shorter batch.
TEST(ExactlyOnceConfigTest, AcceptsMinimumTransactionTimeout) {
  EXPECT_EQ(ParseConfig(ExactlyOnce("  max_batch_ms: 999\n  transaction_timeout_ms: 1000\n"), {})
                .exactly_once.transaction_timeout,
            1000ms);
}

// The checkpoint topic may be as long as Kafka allows.
TEST(ExactlyOnceConfigTest, AcceptsLongestCheckpointTopic) {
  const std::string topic(kMaxTopicLength, 'c');
  EXPECT_EQ(ParseConfig(ExactlyOnce("  checkpoint_topic: " + topic + "\n"), {})
                .exactly_once.checkpoint_topic,
            topic);
}

// Replication factor 0 means the broker's default, so it is accepted.
TEST(ExactlyOnceConfigTest, AcceptsZeroReplicationFactor) {
  EXPECT_EQ(ParseConfig(ExactlyOnce("  checkpoint_replication_factor: 0\n"), {})
                .exactly_once.checkpoint_replication_factor,
            0u);
}

// ---- Kafka properties the relay owns ----------------------------------------------------------

// kafka.transactional.id is refused, pointing at exactly_once.transactional_id.
TEST(ExactlyOnceConfigTest, RejectsKafkaTransactionalId) {
  const ConfigError error = ErrorFrom(ExactlyOnce("", "  transactional.id: mine\n"));
  EXPECT_EQ(error.key(), "kafka.transactional.id");
  EXPECT_THAT(error.what(), HasSubstr("set by the relay"));
  EXPECT_THAT(error.what(), HasSubstr("exactly_once.transactional_id"));
}

// kafka.transaction.timeout.ms is refused, pointing at exactly_once.transaction_timeout_ms.
TEST(ExactlyOnceConfigTest, RejectsKafkaTransactionTimeout) {
  const ConfigError error = ErrorFrom(ExactlyOnce("", "  transaction.timeout.ms: 30000\n"));
  EXPECT_EQ(error.key(), "kafka.transaction.timeout.ms");
  EXPECT_THAT(error.what(), HasSubstr("exactly_once.transaction_timeout_ms"));
}

// The relay's transactional properties are refused in at-least-once mode too, where they would
// silently turn the producer transactional.
TEST(ExactlyOnceConfigTest, RejectsKafkaTransactionalIdInAtLeastOnceMode) {
  EXPECT_EQ(ErrorFrom(std::string(kMinimal) + "kafka:\n  transactional.id: mine\n").key(),
            "kafka.transactional.id");
}

// In exactly-once mode a message may not time out as late as its transaction.
TEST(ExactlyOnceConfigTest, MessageTimeoutMustBeBelowTransactionTimeout) {
  const ConfigError error = ErrorFrom(
      ExactlyOnce("  transaction_timeout_ms: 20000\n", "  message.timeout.ms: 20000\n"));
  EXPECT_EQ(error.key(), "kafka.message.timeout.ms");
  EXPECT_THAT(error.what(), HasSubstr("below exactly_once.transaction_timeout_ms"));
}

// A message timeout below the transaction timeout is passed through.
TEST(ExactlyOnceConfigTest, AcceptsMessageTimeoutBelowTransactionTimeout) {
  const Config config = ParseConfig(
      ExactlyOnce("  transaction_timeout_ms: 20000\n", "  message.timeout.ms: 19999\n"), {});
  EXPECT_EQ(config.kafka.at("message.timeout.ms"), "19999");
}

// A non-numeric message timeout in exactly-once mode is a type error on that property.
TEST(ExactlyOnceConfigTest, RejectsNonNumericMessageTimeoutInExactlyOnceMode) {
  const ConfigError error = ErrorFrom(ExactlyOnce("", "  message.timeout.ms: later\n"));
  EXPECT_EQ(error.key(), "kafka.message.timeout.ms");
  EXPECT_THAT(error.what(), HasSubstr("integer"));
}

// At-least-once has no transaction, so any message timeout is left to librdkafka.
TEST(ExactlyOnceConfigTest, MessageTimeoutUncheckedInAtLeastOnceMode) {
  const Config config =
      ParseConfig(std::string(kMinimal) + "kafka:\n  message.timeout.ms: 900000\n", {});
  EXPECT_EQ(config.kafka.at("message.timeout.ms"), "900000");
}

// ---- Environment ------------------------------------------------------------------------------

// OUTBOX_RELAY_DELIVERY and OUTBOX_RELAY_EXACTLY_ONCE_* configure the mode and batch alone.
TEST(ExactlyOnceConfigTest, EnvironmentSetsModeAndBatch) {
  const Config config = ParseConfig(kMinimal, {{"OUTBOX_RELAY_SINK_TYPE", "kafka"},
                                               {"OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"},
                                               {"OUTBOX_RELAY_DELIVERY", "exactly-once"},
                                               {"OUTBOX_RELAY_EXACTLY_ONCE_MAX_BATCH_EVENTS", "250"},
                                               {"OUTBOX_RELAY_EXACTLY_ONCE_TRANSACTIONAL_ID", "env-id"}});
  EXPECT_EQ(config.delivery, DeliveryMode::kExactlyOnce);
  EXPECT_EQ(config.exactly_once.max_batch_events, 250u);
  EXPECT_EQ(config.exactly_once.TransactionalId(config.source.slot), "env-id");
}

// The environment wins over the file for the new keys.
TEST(ExactlyOnceConfigTest, EnvironmentBeatsFile) {
  const Config config = ParseConfig(ExactlyOnce("  max_batch_events: 500\n"),
                                    {{"OUTBOX_RELAY_DELIVERY", "at-least-once"},
                                     {"OUTBOX_RELAY_EXACTLY_ONCE_MAX_BATCH_EVENTS", "7"}});
  EXPECT_EQ(config.delivery, DeliveryMode::kAtLeastOnce);
  EXPECT_EQ(config.exactly_once.max_batch_events, 7u);
}

// A mode rule broken through the environment names the variable.
TEST(ExactlyOnceConfigTest, EnvironmentDeliveryErrorNamesTheVariable) {
  const ConfigError error = ErrorFrom(kMinimal, {{"OUTBOX_RELAY_DELIVERY", "exactly-once"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_DELIVERY");
  EXPECT_THAT(error.what(), HasSubstr("sink.type: kafka"));
}

// A bad value of an exactly_once key from the environment names the variable.
TEST(ExactlyOnceConfigTest, EnvironmentBatchErrorNamesTheVariable) {
  const ConfigError error =
      ErrorFrom(kMinimal, {{"OUTBOX_RELAY_EXACTLY_ONCE_MAX_BATCH_EVENTS", "0"}});
  EXPECT_EQ(error.key(), "OUTBOX_RELAY_EXACTLY_ONCE_MAX_BATCH_EVENTS");
  EXPECT_THAT(error.what(), HasSubstr("at least 1"));
}

// kafka.transactional.id set through the environment is refused naming the variable.
TEST(ExactlyOnceConfigTest, EnvironmentKafkaTransactionalIdNamesTheVariable) {
  EXPECT_EQ(ErrorFrom(ExactlyOnce(), {{"OUTBOX_RELAY_KAFKA_TRANSACTIONAL_ID", "mine"}}).key(),
            "OUTBOX_RELAY_KAFKA_TRANSACTIONAL_ID");
}

// ---- Unknown keys -----------------------------------------------------------------------------

// A misspelt exactly_once key is rejected with the right name suggested.
TEST(ExactlyOnceConfigTest, SuggestsExactlyOnceKey) {
  const ConfigError error = ErrorFrom(ExactlyOnce("  max_batch_event: 5\n"));
  EXPECT_EQ(error.key(), "exactly_once.max_batch_event");
  EXPECT_THAT(error.what(), HasSubstr("did you mean exactly_once.max_batch_events?"));
}

}  // namespace
}  // namespace outbox_relay::config
