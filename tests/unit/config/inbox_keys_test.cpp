// The inbox.* keys (config/inbox_keys.cpp) and the inbox.handlers rules.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using namespace outbox_relay::config::test_support;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kHandler = "inbox:\n  handlers:\n    - {topic: orders, function: seats.on_event}\n";

INSTANTIATE_TEST_SUITE_P(
    InboxKeys, BadValueTest,
    ::testing::Values(BadValue{"inbox:\n  name: ''\n", "inbox.name", "must not be empty"},
                      BadValue{"inbox:\n  partitions: [orders]\n", "inbox.partitions", "topic:partition"},
                      BadValue{"inbox:\n  partitions: ['orders:x']\n", "inbox.partitions", "topic:partition"},
                      BadValue{"inbox:\n  partitions: ['or/ders:1']\n", "inbox.partitions", "legal Kafka topic"},
                      BadValue{"inbox:\n  partitions: ['orders:1', 'orders:1']\n", "inbox.partitions", "twice"},
                      BadValue{"inbox:\n  format: xml\n", "inbox.format", "xml"},
                      BadValue{"inbox:\n  batch_size: 0\n", "inbox.batch_size", "at least 1"},
                      BadValue{"inbox:\n  batch_size: 100001\n", "inbox.batch_size", "at most 100000"},
                      BadValue{"inbox:\n  batch_wait_ms: 60001\n", "inbox.batch_wait_ms", "60000"},
                      BadValue{"inbox:\n  on_poison: skip\n", "inbox.on_poison", "skip"},
                      BadValue{"inbox:\n  dead_letter_topic: 'a b'\n", "inbox.dead_letter_topic",
                               "legal Kafka topic"},
                      BadValue{"inbox:\n  unhandled: drop\n", "inbox.unhandled", "drop"},
                      BadValue{"inbox:\n  retry_backoff_initial_ms: 0\n", "inbox.retry_backoff_initial_ms", "1"},
                      BadValue{"inbox:\n  retry_backoff_initial_ms: 500\n  retry_backoff_max_ms: 100\n",
                               "inbox.retry_backoff_max_ms", "at least inbox.retry_backoff_initial_ms"}));

TEST(InboxKeysTest, Defaults) {
  const Config config = ParseConfig(kMinimal, {});
  EXPECT_EQ(config.inbox.name, "default");
  EXPECT_EQ(config.inbox.GroupId(), "outbox-relay-inbox.default");
  EXPECT_TRUE(config.inbox.handlers.empty());
  EXPECT_EQ(config.inbox.format, EventFormat::kPayload);
  EXPECT_EQ(config.inbox.batch_size, 500u);
  EXPECT_EQ(config.inbox.batch_wait.count(), 100);
  EXPECT_EQ(config.inbox.on_poison, PoisonPolicy::kFail);
  EXPECT_EQ(config.inbox.dead_letter_topic, "outbox-relay.inbox-dead-letter");
  EXPECT_EQ(config.inbox.unhandled, UnhandledPolicy::kSkip);
  EXPECT_EQ(config.inbox.retry_backoff_initial.count(), 100);
  EXPECT_EQ(config.inbox.retry_backoff_max.count(), 10000);
}

TEST(InboxKeysTest, HandlersAndStaticPartitionsGiveTheTopicsOnceInRuleOrder) {
  const Config config = ParseConfig(WithDsn(R"(inbox:
  name: seats
  group_id: seats-consumers
  format: envelope
  on_poison: dead-letter
  unhandled: fail
  partitions: ['payments:0', 'orders:2']
  handlers:
    - {topic: orders, type: OrderPlaced, function: seats.on_placed}
    - {topic: orders, function: seats.on_order}
    - {topic: flights, function: on_flight}
)"),
                                    {});
  EXPECT_EQ(config.inbox.GroupId(), "seats-consumers");
  EXPECT_EQ(config.inbox.format, EventFormat::kEnvelope);
  EXPECT_EQ(config.inbox.on_poison, PoisonPolicy::kDeadLetter);
  EXPECT_EQ(config.inbox.unhandled, UnhandledPolicy::kFail);
  ASSERT_EQ(config.inbox.handlers.size(), 3u);
  EXPECT_EQ(config.inbox.handlers[0].type, "OrderPlaced");
  EXPECT_EQ(config.inbox.handlers[1].type, "") << "no type: every type of the topic";
  EXPECT_EQ(config.inbox.handlers[2].function, "on_flight");
  EXPECT_THAT(config.inbox.Topics(), ElementsAre("orders", "flights", "payments"));
}

TEST(InboxKeysTest, KeysComeFromTheEnvironmentToo) {
  const Config config = ParseConfig(
      WithDsn(kHandler), {{"OUTBOX_RELAY_INBOX_NAME", "ticketing"}, {"OUTBOX_RELAY_INBOX_BATCH_SIZE", "50"}});
  EXPECT_EQ(config.inbox.name, "ticketing");
  EXPECT_EQ(config.inbox.batch_size, 50u);
  EXPECT_EQ(config.inbox.GroupId(), "outbox-relay-inbox.ticketing");
}

TEST(InboxKeysTest, HandlerRulesNameTheirBadField) {
  const ConfigError no_topic = ErrorFrom(WithDsn("inbox:\n  handlers:\n    - {function: f}\n"));
  EXPECT_EQ(no_topic.key(), "inbox.handlers[0].topic");
  EXPECT_THAT(no_topic.what(), HasSubstr("is required"));
  EXPECT_EQ(ErrorFrom(WithDsn("inbox:\n  handlers:\n    - {topic: t}\n")).key(), "inbox.handlers[0].function");
  EXPECT_EQ(ErrorFrom(WithDsn("inbox:\n  handlers:\n    - {topic: 'a b', function: f}\n")).key(),
            "inbox.handlers[0].topic");
  const ConfigError dotted = ErrorFrom(WithDsn("inbox:\n  handlers:\n    - {topic: t, function: a.b.c}\n"));
  EXPECT_EQ(dotted.key(), "inbox.handlers[0].function");
  EXPECT_THAT(dotted.what(), HasSubstr("schema.function"));
  const ConfigError typo = ErrorFrom(WithDsn("inbox:\n  handlers:\n    - {topic: t, functoin: f}\n"));
  EXPECT_THAT(typo.key(), HasSubstr("inbox.handlers[0]"));
}

TEST(InboxKeysTest, ARuleThatAnEarlierRuleShadowsIsRefused) {
  const ConfigError shadowed = ErrorFrom(WithDsn(R"(inbox:
  handlers:
    - {topic: orders, function: a}
    - {topic: orders, type: OrderPlaced, function: b}
)"));
  EXPECT_EQ(shadowed.key(), "inbox.handlers[1]");
  EXPECT_THAT(shadowed.what(), HasSubstr("inbox.handlers[0] takes its events first"));
  // The other order is fine: the typed rule first, the catch-all after it.
  EXPECT_NO_THROW(ParseConfig(WithDsn(R"(inbox:
  handlers:
    - {topic: orders, type: OrderPlaced, function: b}
    - {topic: orders, function: a}
)"),
                              {}));
}

TEST(InboxKeysTest, TheDeadLetterTopicMustNotBeConsumed) {
  const ConfigError error = ErrorFrom(WithDsn(kHandler + "  dead_letter_topic: orders\n"));
  EXPECT_EQ(error.key(), "inbox.dead_letter_topic");
  EXPECT_THAT(error.what(), HasSubstr("a topic the inbox consumes"));
}

}  // namespace
}  // namespace outbox_relay::config
