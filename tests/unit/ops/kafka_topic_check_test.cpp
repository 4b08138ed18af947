#include "relay/ops/kafka_topic_check.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace outbox_relay::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Names(const std::vector<TopicToCheck>& topics) {
  std::vector<std::string> names;
  for (const auto& topic : topics) names.push_back(topic.name);
  return names;
}

config::RouteConfig Route(const std::string& topic) {
  config::RouteConfig route;
  route.topic = topic;
  return route;
}

TopicCheckContext Context() { return {"broker-1:9092,broker-2:9092", "User:relay"}; }

TopicToCheck Routing(const std::string& name) { return {name, TopicRole::kRouting, {"outbox.topic"}}; }

TopicFacts Existing(int partitions, std::optional<rd_kafka_resp_err_t> probe) {
  return {RD_KAFKA_RESP_ERR_NO_ERROR, partitions, probe};
}

TopicFacts Missing() { return {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, 0, std::nullopt}; }

const AutoCreateSetting kAutoCreateOn{AutoCreate::kOn, ""};
const AutoCreateSetting kAutoCreateOff{AutoCreate::kOff, ""};

// The default config routes by a template: no topic is named literally, so none is checked.
TEST(TopicsToCheckTest, TemplatesAreNotChecked) {
  config::Config config;
  config.outbox.routes = {Route("orders.{type}"), Route("")};
  EXPECT_TRUE(TopicsToCheck(config).empty());
}

// Literal outbox.topic and route topics are checked, each once, with every key that names it.
TEST(TopicsToCheckTest, LiteralRoutingTopicsOnceEach) {
  config::Config config;
  config.outbox.topic = "events";
  config.outbox.routes = {Route("orders"), Route("orders.{type}"), Route("events"), Route("")};
  const auto topics = TopicsToCheck(config);
  EXPECT_EQ(Names(topics), (std::vector<std::string>{"events", "orders"}));
  EXPECT_EQ(topics[0].keys, (std::vector<std::string>{"outbox.topic", "outbox.routes[2].topic"}));
  EXPECT_EQ(topics[1].keys, (std::vector<std::string>{"outbox.routes[0].topic"}));
  EXPECT_EQ(topics[1].role, TopicRole::kRouting);
}

// The checkpoint topic only in exactly-once mode, the dead-letter topic only with on_poison:
// dead-letter; both come before the routing topics.
TEST(TopicsToCheckTest, CheckpointAndDeadLetterOnlyWhenUsed) {
  config::Config config;
  config.outbox.topic = "events";
  EXPECT_EQ(Names(TopicsToCheck(config)), (std::vector<std::string>{"events"}));
  config.delivery = config::DeliveryMode::kExactlyOnce;
  config.on_poison = config::PoisonPolicy::kDeadLetter;
  config.exactly_once.checkpoint_topic = "relay.checkpoints";
  config.dead_letter.topic = "relay.dlq";
  const auto topics = TopicsToCheck(config);
  EXPECT_EQ(Names(topics), (std::vector<std::string>{"relay.checkpoints", "relay.dlq", "events"}));
  EXPECT_EQ(topics[0].role, TopicRole::kCheckpoint);
  EXPECT_EQ(topics[0].keys, (std::vector<std::string>{"exactly_once.checkpoint_topic"}));
  EXPECT_EQ(topics[1].role, TopicRole::kDeadLetter);
  EXPECT_EQ(topics[1].keys, (std::vector<std::string>{"dead_letter.topic"}));
}

// The codes that mean something to check; every other one is kOther.
TEST(ClassifyTopicCodeTest, MissingDeniedAndTheProbeAnswer) {
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_NO_ERROR), TopicCode::kOk);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART), TopicCode::kMissing);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC), TopicCode::kMissing);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), TopicCode::kDenied);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED), TopicCode::kDenied);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS), TopicCode::kAcksRefused);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR__TIMED_OUT), TopicCode::kOther);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE), TopicCode::kOther);
  EXPECT_EQ(ClassifyTopicCode(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED), TopicCode::kOther);
}

// auto.create.topics.enable: true/false, or unknown with the reason (denied, error, absent).
TEST(ReadAutoCreateTest, ValueOrWhyUnknown) {
  EXPECT_EQ(ReadAutoCreate(RD_KAFKA_RESP_ERR_NO_ERROR, "true").value, AutoCreate::kOn);
  EXPECT_EQ(ReadAutoCreate(RD_KAFKA_RESP_ERR_NO_ERROR, "false").value, AutoCreate::kOff);
  const auto denied = ReadAutoCreate(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, std::nullopt);
  EXPECT_EQ(denied.value, AutoCreate::kUnknown);
  EXPECT_EQ(denied.unknown_reason, "not permitted to describe the broker's configs");
  const auto timed_out = ReadAutoCreate(RD_KAFKA_RESP_ERR__TIMED_OUT, std::nullopt);
  EXPECT_EQ(timed_out.value, AutoCreate::kUnknown);
  EXPECT_THAT(timed_out.unknown_reason, HasSubstr("cannot describe the broker's configs"));
  EXPECT_EQ(ReadAutoCreate(RD_KAFKA_RESP_ERR_NO_ERROR, std::nullopt).value, AutoCreate::kUnknown);
}

// The hints name the principal: the SASL user, ANONYMOUS over PLAINTEXT, else where it comes from.
TEST(RelayPrincipalTest, SaslUserAnonymousOrWhereItComesFrom) {
  EXPECT_EQ(RelayPrincipal({{"sasl.username", "relay"}, {"security.protocol", "SASL_SSL"}}), "User:relay");
  EXPECT_EQ(RelayPrincipal({}), "User:ANONYMOUS");
  EXPECT_EQ(RelayPrincipal({{"security.protocol", "PLAINTEXT"}}), "User:ANONYMOUS");
  EXPECT_THAT(RelayPrincipal({{"security.protocol", "ssl"}}), HasSubstr("ssl.certificate.location"));
  EXPECT_THAT(RelayPrincipal({{"security.protocol", "SASL_SSL"}, {"sasl.mechanism", "OAUTHBEARER"}}),
              HasSubstr("principal"));
}

// An existing topic the probe may write to (the broker refused only the acks): ok with its
// partition count.
TEST(JudgeTopicTest, ExistingWritableTopicIsOkWithPartitions) {
  const auto line = JudgeTopic(Routing("events"), Existing(6, RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS),
                               kAutoCreateOff, Context());
  EXPECT_TRUE(line.ok);
  EXPECT_EQ(line.what, "kafka topic events (outbox.topic)");
  EXPECT_EQ(line.text, "exists, 6 partitions; the relay may write to it");
  EXPECT_EQ(JudgeTopic(Routing("events"), Existing(1, RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS), kAutoCreateOff,
                       Context())
                .text,
            "exists, 1 partition; the relay may write to it");
}

// A probe refused for authorization: FAIL with the kafka-acls command for the relay's principal.
TEST(JudgeTopicTest, WriteDeniedFailsWithAclHint) {
  const auto line = JudgeTopic(Routing("events"), Existing(3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                               kAutoCreateOn, Context());
  EXPECT_FALSE(line.ok);
  EXPECT_THAT(line.text, HasSubstr("exists, 3 partitions, but the relay may not write to it"));
  EXPECT_EQ(
      line.hint,
      "let the relay's principal describe and write it: kafka-acls --bootstrap-server "
      "broker-1:9092,broker-2:9092 --add --allow-principal User:relay --operation Write --operation Describe "
      "--topic events");
}

// Metadata refused for authorization (no Describe): FAIL with the same ACL hint.
TEST(JudgeTopicTest, DescribeDeniedFailsWithAclHint) {
  const auto line = JudgeTopic(Routing("events"), {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0, std::nullopt},
                               kAutoCreateOn, Context());
  EXPECT_FALSE(line.ok);
  EXPECT_THAT(line.text, HasSubstr("may not describe it"));
  EXPECT_THAT(line.hint,
              HasSubstr("--allow-principal User:relay --operation Write --operation Describe --topic events"));
}

// The checkpoint topic is read back at start, so its ACL hint adds Read.
TEST(JudgeTopicTest, CheckpointAclHintAddsRead) {
  const TopicToCheck checkpoint{"relay.checkpoints", TopicRole::kCheckpoint, {"exactly_once.checkpoint_topic"}};
  const auto line =
      JudgeTopic(checkpoint, Existing(1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED), kAutoCreateOn, Context());
  EXPECT_FALSE(line.ok);
  EXPECT_THAT(line.hint,
              HasSubstr("--operation Write --operation Describe --operation Read --topic relay.checkpoints"));
}

// No answer to the probe, or an error that says nothing about permission: ok, "not verified".
TEST(JudgeTopicTest, UnansweredProbeIsNotVerified) {
  for (const auto& probe :
       {std::optional<rd_kafka_resp_err_t>(), std::optional(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)}) {
    const auto line = JudgeTopic(Routing("events"), Existing(3, probe), kAutoCreateOn, Context());
    EXPECT_TRUE(line.ok);
    EXPECT_THAT(line.text, HasSubstr("write permission not verified"));
  }
}

// A missing topic the broker creates on first use is ok; one it does not create is a FAIL with
// the kafka-topics command (partitions, max.message.bytes).
TEST(JudgeTopicTest, MissingTopicDependsOnAutoCreate) {
  const auto created = JudgeTopic(Routing("events"), Missing(), kAutoCreateOn, Context());
  EXPECT_TRUE(created.ok);
  EXPECT_THAT(created.text, HasSubstr("missing; the broker creates it on the first write"));
  const auto refused = JudgeTopic(Routing("events"), Missing(), kAutoCreateOff, Context());
  EXPECT_FALSE(refused.ok);
  EXPECT_THAT(refused.text, HasSubstr("auto.create.topics.enable=false"));
  EXPECT_THAT(refused.hint, HasSubstr("kafka-topics --bootstrap-server broker-1:9092,broker-2:9092 --create "
                                      "--topic events --partitions <N> --config max.message.bytes=<bytes>"));
}

// Unknown auto-create (broker configs not readable) is a FAIL saying why, and how to fix either way.
TEST(JudgeTopicTest, MissingTopicWithUnknownAutoCreateFails) {
  const auto line =
      JudgeTopic(Routing("events"), Missing(),
                 {AutoCreate::kUnknown, "not permitted to describe the broker's configs"}, Context());
  EXPECT_FALSE(line.ok);
  EXPECT_THAT(line.text, HasSubstr("unknown (not permitted to describe the broker's configs)"));
  EXPECT_THAT(line.hint, HasSubstr("kafka-topics"));
  EXPECT_THAT(line.hint, HasSubstr("DescribeConfigs"));
}

// The relay creates a missing checkpoint topic itself: ok whatever the broker's auto-create.
TEST(JudgeTopicTest, MissingCheckpointTopicIsCreatedByTheRelay) {
  const TopicToCheck checkpoint{"relay.checkpoints", TopicRole::kCheckpoint, {"exactly_once.checkpoint_topic"}};
  const auto line = JudgeTopic(checkpoint, Missing(), kAutoCreateOff, Context());
  EXPECT_TRUE(line.ok);
  EXPECT_THAT(line.text, HasSubstr("the relay creates it at start"));
}

// A missing dead-letter topic: one partition is enough, and the hint says so.
TEST(JudgeTopicTest, MissingDeadLetterTopicHintsOnePartition) {
  const TopicToCheck dead_letter{"relay.dlq", TopicRole::kDeadLetter, {"dead_letter.topic"}};
  const auto line = JudgeTopic(dead_letter, Missing(), kAutoCreateOff, Context());
  EXPECT_FALSE(line.ok);
  EXPECT_THAT(line.hint, HasSubstr("--topic relay.dlq --partitions 1 --config max.message.bytes="));
}

// Any other metadata error is a FAIL naming it.
TEST(JudgeTopicTest, OtherMetadataErrorFails) {
  const auto line = JudgeTopic(Routing("events"), {RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, 0, std::nullopt},
                               kAutoCreateOn, Context());
  EXPECT_FALSE(line.ok);
  EXPECT_THAT(line.text, HasSubstr(rd_kafka_err2str(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)));
  EXPECT_THAT(line.hint, Not(HasSubstr("kafka-acls")));
}

}  // namespace
}  // namespace outbox_relay::ops
