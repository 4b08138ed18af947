// Where events go and how: sink.type, delivery, exactly_once.*, on_poison and
// dead_letter.topic.

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"
#include "config/topic_template.hpp"

namespace outbox_relay::config::detail {
namespace {

// A topic the relay writes to as named (no template): Kafka's name rule, checked now.
Problem CheckTopicName(const std::string& topic, const Config&) {
  if (!IsLegalTopicName(topic)) return "\"" + topic + "\" is not a legal Kafka topic name";
  return std::nullopt;
}

Problem CheckDeadLetterTopic(const std::string& topic, const Config& config) {
  if (Problem problem = CheckTopicName(topic, config)) return problem;
  // The relay reads its checkpoints back from that topic.
  if (topic == config.exactly_once.checkpoint_topic) {
    return "must differ from exactly_once.checkpoint_topic";
  }
  return std::nullopt;
}

}  // namespace

std::vector<KeySpec> DeliveryKeys() {
  return {
      EnumKey(
          "sink.type", [](auto& c) -> auto& { return c.sink.type; },
          Choices<SinkType>{
              {"stdout", SinkType::kStdout}, {"kafka", SinkType::kKafka}, {"rabbitmq", SinkType::kRabbitMq}}),
      EnumKey(
          "delivery", [](auto& c) -> auto& { return c.delivery; },
          Choices<DeliveryMode>{{"at-least-once", DeliveryMode::kAtLeastOnce},
                                {"exactly-once", DeliveryMode::kExactlyOnce}},
          [](const Config& config) -> Problem {
            if (config.delivery == DeliveryMode::kExactlyOnce && config.sink.type != SinkType::kKafka) {
              return "exactly-once needs sink.type: kafka (Kafka transactions)";
            }
            return std::nullopt;
          }),
      CountKey(
          "exactly_once.max_batch_events", [](auto& c) -> auto& { return c.exactly_once.max_batch_events; }, 1),
      MillisKey(
          "exactly_once.max_batch_ms", [](auto& c) -> auto& { return c.exactly_once.max_batch; }, 1,
          kMaxDurationMs),
      StringKey(
          "exactly_once.checkpoint_topic", [](auto& c) -> auto& { return c.exactly_once.checkpoint_topic; },
          CheckTopicName),
      CountKey(
          "exactly_once.checkpoint_replication_factor",
          [](auto& c) -> auto& { return c.exactly_once.checkpoint_replication_factor; }, 0),
      StringKey(
          "exactly_once.transactional_id", [](auto& c) -> auto& { return c.exactly_once.transactional_id; },
          AnyText),
      MillisKey(
          "exactly_once.transaction_timeout_ms",
          [](auto& c) -> auto& { return c.exactly_once.transaction_timeout; }, 1000, kMaxDurationMs,
          [](const Config& c) -> Problem {
            if (c.exactly_once.max_batch >= c.exactly_once.transaction_timeout) {
              return "must be greater than exactly_once.max_batch_ms";
            }
            return std::nullopt;
          }),
      EnumKey(
          "on_poison", [](auto& c) -> auto& { return c.on_poison; },
          Choices<PoisonPolicy>{{"fail", PoisonPolicy::kFail}, {"dead-letter", PoisonPolicy::kDeadLetter}}),
      StringKey(
          "dead_letter.topic", [](auto& c) -> auto& { return c.dead_letter.topic; }, CheckDeadLetterTopic),
  };
}

}  // namespace outbox_relay::config::detail
