// `outbox-relay check`'s Kafka topic checks, the part that asks the brokers (CheckKafkaTopics):
// metadata per topic, a produce probe that appends nothing, and the broker's
// auto.create.topics.enable. How the answers read is in kafka_topic_check.cpp.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "relay/ops/kafka_topic_check.hpp"

namespace outbox_relay::ops {
namespace {

using sinks::KafkaAdminOptionsHandle;
using sinks::KafkaConfigResourceHandle;
using sinks::KafkaEventHandle;
using sinks::KafkaMetadataHandle;
using sinks::KafkaTopicHandle;

// What a probe would carry if a broker ever appended it (none of Kafka 0.9 or later does).
constexpr std::string_view kProbeValue = "outbox-relay check: write permission probe with acks=2, never appended";

// Delivery reports of the produce probes: a message's opaque is its index in the vector the
// client's opaque points to.
void OnProbeReport(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto& reports = *static_cast<std::vector<std::optional<rd_kafka_resp_err_t>>*>(opaque);
  const auto index = reinterpret_cast<std::uintptr_t>(message->_private);
  if (index < reports.size()) reports[index] = message->err;
}

// auto.create.topics.enable of broker `broker_id` (DescribeConfigs on the broker resource).
AutoCreateSetting DescribeAutoCreate(rd_kafka_t* client, int broker_id, int timeout_ms) {
  std::array<char, 512> error{};
  KafkaAdminOptionsHandle options(rd_kafka_AdminOptions_new(client, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, error.data(), error.size());
  KafkaConfigResourceHandle resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, std::to_string(broker_id).c_str()));
  sinks::KafkaQueueHandle queue(rd_kafka_queue_new(client));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  rd_kafka_DescribeConfigs(client, resources, 1, options.get(), queue.get());  // copies the resources
  KafkaEventHandle event(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!event) return ReadAutoCreate(RD_KAFKA_RESP_ERR__TIMED_OUT, std::nullopt);
  if (const auto code = rd_kafka_event_error(event.get()); code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ReadAutoCreate(code, std::nullopt);
  }
  const rd_kafka_DescribeConfigs_result_t* result = rd_kafka_event_DescribeConfigs_result(event.get());
  std::size_t resource_count = 0;
  const rd_kafka_ConfigResource_t** described =
      result ? rd_kafka_DescribeConfigs_result_resources(result, &resource_count) : nullptr;
  if (resource_count != 1) return ReadAutoCreate(RD_KAFKA_RESP_ERR__BAD_MSG, std::nullopt);
  if (const auto code = rd_kafka_ConfigResource_error(described[0]); code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ReadAutoCreate(code, std::nullopt);
  }
  std::size_t entry_count = 0;
  const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(described[0], &entry_count);
  for (std::size_t i = 0; i < entry_count; ++i) {
    if (std::string_view(rd_kafka_ConfigEntry_name(entries[i])) == kAutoCreateKey) {
      const char* value = rd_kafka_ConfigEntry_value(entries[i]);
      return ReadAutoCreate(RD_KAFKA_RESP_ERR_NO_ERROR, value ? std::optional<std::string>(value) : std::nullopt);
    }
  }
  return ReadAutoCreate(RD_KAFKA_RESP_ERR_NO_ERROR, std::nullopt);
}

bool Set(rd_kafka_conf_t* conf, const char* key, const char* value, std::string& problem) {
  std::array<char, 512> error{};
  if (rd_kafka_conf_set(conf, key, value, error.data(), error.size()) == RD_KAFKA_CONF_OK) return true;
  problem = std::string(key) + ": " + error.data();
  return false;
}

}  // namespace

std::vector<TopicCheckLine> CheckKafkaTopics(const config::Config& config, sinks::KafkaConfHandle conf,
                                             int timeout_ms) {
  const std::vector<TopicToCheck> topics = TopicsToCheck(config);
  if (topics.empty()) return {};
  const TopicCheckContext context = ContextFor(config);

  std::vector<std::optional<rd_kafka_resp_err_t>> reports(topics.size());
  const std::string timeout = std::to_string(timeout_ms);
  std::string problem;
  // Metadata requests naming a topic must not create it (librdkafka's producer default asks the
  // broker to). The probe: no idempotence (its InitProducerId), no retries, acks=2, which every
  // broker since Kafka 0.9 refuses with INVALID_REQUIRED_ACKS after authorising each topic.
  const bool configured = Set(conf.get(), "allow.auto.create.topics", "false", problem) &&
                          Set(conf.get(), "enable.idempotence", "false", problem) &&
                          Set(conf.get(), "request.required.acks", "2", problem) &&
                          Set(conf.get(), "message.send.max.retries", "0", problem) &&
                          Set(conf.get(), "queue.buffering.max.ms", "0", problem) &&
                          Set(conf.get(), "message.timeout.ms", timeout.c_str(), problem);
  std::array<char, 512> error{};
  sinks::KafkaHandle client;
  if (configured) {
    rd_kafka_conf_set_dr_msg_cb(conf.get(), OnProbeReport);
    rd_kafka_conf_set_opaque(conf.get(), &reports);
    client.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
    if (client) {
      conf.release();  // rd_kafka_new owns it once it succeeded
    } else {
      problem = error.data();
    }
  }
  if (!client) {
    return {{false, "kafka topics", "cannot create a Kafka client for the topic checks: " + problem,
             "check the kafka.* properties"}};
  }

  std::vector<TopicFacts> facts(topics.size());
  std::optional<int> broker_id;
  bool any_missing = false;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    KafkaTopicHandle topic(rd_kafka_topic_new(client.get(), topics[i].name.c_str(), nullptr));
    if (!topic) {
      facts[i].metadata = rd_kafka_last_error();
      continue;
    }
    const rd_kafka_metadata_t* raw = nullptr;
    const rd_kafka_resp_err_t code = rd_kafka_metadata(client.get(), 0, topic.get(), &raw, timeout_ms);
    KafkaMetadataHandle metadata(raw);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      facts[i].metadata = code;
    } else if (metadata->topic_cnt != 1) {
      facts[i].metadata = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    } else {
      facts[i].metadata = metadata->topics[0].err;
      facts[i].partitions = metadata->topics[0].partition_cnt;
    }
    if (metadata && metadata->broker_cnt > 0 && !broker_id) broker_id = metadata->brokers[0].id;
    if (ClassifyTopicCode(facts[i].metadata) == TopicCode::kMissing && topics[i].role != TopicRole::kCheckpoint) {
      any_missing = true;
    }
  }

  // The probes, all at once; only topics that exist (producing to a missing one would have the
  // client wait for it until message.timeout.ms).
  bool probing = false;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    if (ClassifyTopicCode(facts[i].metadata) != TopicCode::kOk || facts[i].partitions <= 0) continue;
    const rd_kafka_resp_err_t code = rd_kafka_producev(
        client.get(), RD_KAFKA_V_TOPIC(topics[i].name.c_str()), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_VALUE(const_cast<char*>(kProbeValue.data()), kProbeValue.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(std::uintptr_t{i})),
        RD_KAFKA_V_END);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      reports[i] = code;
    } else {
      probing = true;
    }
  }
  if (probing) rd_kafka_flush(client.get(), timeout_ms + 1000);  // serves the delivery reports
  for (std::size_t i = 0; i < topics.size(); ++i) facts[i].probe = reports[i];

  AutoCreateSetting auto_create{AutoCreate::kUnknown, "no broker listed in the metadata"};
  if (any_missing && broker_id) auto_create = DescribeAutoCreate(client.get(), *broker_id, timeout_ms);

  std::vector<TopicCheckLine> lines;
  for (std::size_t i = 0; i < topics.size(); ++i) lines.push_back(JudgeTopic(topics[i], facts[i], auto_create, context));
  return lines;
}

}  // namespace outbox_relay::ops
