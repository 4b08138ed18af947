// on_poison and dead_letter.topic: defaults, spellings, the environment, and the errors.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using test_support::ErrorFrom;
using test_support::kMinimal;
using test_support::WithDsn;
using ::testing::HasSubstr;

// Without the keys the relay stops at a poison row, and the dead-letter topic has its default.
TEST(PoisonConfigTest, DefaultsToFail) {
  const Config config = ParseConfig(kMinimal, {});
  EXPECT_EQ(config.on_poison, PoisonPolicy::kFail);
  EXPECT_EQ(config.dead_letter.topic, "outbox-relay.dead-letter");
}

// Both spellings, from the file and from the environment, which wins.
TEST(PoisonConfigTest, ParsesPolicyAndTopic) {
  const Config config = ParseConfig(WithDsn("on_poison: dead-letter\ndead_letter:\n  topic: orders.dlq\n"), {});
  EXPECT_EQ(config.on_poison, PoisonPolicy::kDeadLetter);
  EXPECT_EQ(config.dead_letter.topic, "orders.dlq");
  const Config overridden =
      ParseConfig(WithDsn("on_poison: dead-letter\n"),
                  {{"OUTBOX_RELAY_ON_POISON", "fail"}, {"OUTBOX_RELAY_DEAD_LETTER_TOPIC", "env.dlq"}});
  EXPECT_EQ(overridden.on_poison, PoisonPolicy::kFail);
  EXPECT_EQ(overridden.dead_letter.topic, "env.dlq");
}

// A wrong policy names the key (or the variable) and the accepted spellings.
TEST(PoisonConfigTest, RejectsUnknownPolicy) {
  const ConfigError error = ErrorFrom(WithDsn("on_poison: skip\n"));
  EXPECT_EQ(error.key(), "on_poison");
  EXPECT_THAT(error.what(), HasSubstr("expected one of fail, dead-letter, got \"skip\""));
  EXPECT_EQ(ErrorFrom(kMinimal, {{"OUTBOX_RELAY_ON_POISON", "dead_letter"}}).key(), "OUTBOX_RELAY_ON_POISON");
}

// The dead-letter topic obeys Kafka's name rule and cannot be the checkpoint topic.
TEST(PoisonConfigTest, RejectsBadTopic) {
  for (const char* topic : {"\"\"", "\"a b\"", "\".\"", "\"..\""}) {
    const ConfigError error = ErrorFrom(WithDsn(std::string("dead_letter:\n  topic: ") + topic + "\n"));
    EXPECT_EQ(error.key(), "dead_letter.topic") << topic;
    EXPECT_THAT(error.what(), HasSubstr("not a legal Kafka topic name")) << topic;
  }
  EXPECT_EQ(ErrorFrom(WithDsn("dead_letter:\n  topic: " + std::string(250, 'd') + "\n")).key(),
            "dead_letter.topic");
  const ConfigError same = ErrorFrom(WithDsn("dead_letter:\n  topic: outbox-relay.checkpoints\n"));
  EXPECT_EQ(same.key(), "dead_letter.topic");
  EXPECT_THAT(same.what(), HasSubstr("must differ from exactly_once.checkpoint_topic"));
  EXPECT_EQ(ErrorFrom(WithDsn("dead_letter:\n  topik: x\n")).key(), "dead_letter.topik");
}

}  // namespace
}  // namespace outbox_relay::config
