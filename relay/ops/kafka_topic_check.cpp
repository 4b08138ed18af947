// `outbox-relay check`'s Kafka topic checks, the pure part: which topics to check and how the
// brokers' answers read. CheckKafkaTopics, which asks them, is in kafka_topic_probe.cpp.

#include "relay/ops/kafka_topic_check.hpp"

#include <stdexcept>
#include <utility>

#include "config/topic_template.hpp"
#include "sinks/kafka_errors.hpp"

namespace outbox_relay::ops {
namespace {

std::string Join(const std::vector<std::string>& parts) {
  std::string joined;
  for (const auto& part : parts) {
    if (!joined.empty()) joined += ", ";
    joined += part;
  }
  return joined;
}

bool IsLiteral(const std::string& pattern) {
  try {
    return !config::TopicTemplate(pattern).HasPlaceholders();
  } catch (const std::invalid_argument&) {
    return false;  // config validation refuses it before check runs
  }
}

void Add(std::vector<TopicToCheck>& topics, const std::string& name, TopicRole role, std::string key) {
  for (auto& topic : topics) {
    if (topic.name == name) {
      topic.keys.push_back(std::move(key));
      return;
    }
  }
  topics.push_back({name, role, {std::move(key)}});
}

std::string Lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

const std::string* Find(const std::map<std::string, std::string>& kafka, const std::string& key) {
  const auto found = kafka.find(key);
  return found == kafka.end() ? nullptr : &found->second;
}

std::string ErrorText(rd_kafka_resp_err_t code) { return rd_kafka_err2str(code); }

TopicCheckLine Ok(TopicCheckLine line, std::string text) {
  line.ok = true;
  line.text = std::move(text);
  return line;
}

TopicCheckLine Fail(TopicCheckLine line, std::string text, std::string hint) {
  line.ok = false;
  line.text = std::move(text);
  line.hint = std::move(hint);
  return line;
}

TopicCheckLine JudgeExisting(const TopicToCheck& topic, const TopicFacts& facts, const TopicCheckContext& context,
                             TopicCheckLine line) {
  const std::string exists =
      "exists, " + std::to_string(facts.partitions) + (facts.partitions == 1 ? " partition" : " partitions");
  if (!facts.probe) {
    return Ok(std::move(line),
              exists + "; write permission not verified (no answer to the produce probe in time)");
  }
  switch (ClassifyTopicCode(*facts.probe)) {
    case TopicCode::kAcksRefused:
      // The broker checked WRITE on the topic and only then refused acks=2: nothing appended.
      return Ok(std::move(line), exists + "; the relay may write to it");
    case TopicCode::kOk:
      return Ok(std::move(line), exists +
                                     "; the relay may write to it (this broker accepted the probe's acks=2 and "
                                     "appended one probe record)");
    case TopicCode::kDenied:
      return Fail(std::move(line),
                  exists + ", but the relay may not write to it (" + ErrorText(*facts.probe) + ")",
                  AclHint(topic, context));
    case TopicCode::kMissing:
    case TopicCode::kOther:
      break;
  }
  return Ok(std::move(line), exists + "; write permission not verified (" + ErrorText(*facts.probe) + ")");
}

TopicCheckLine JudgeMissing(const TopicToCheck& topic, const AutoCreateSetting& auto_create,
                            const TopicCheckContext& context, TopicCheckLine line) {
  if (topic.role == TopicRole::kCheckpoint) {
    // KafkaSink::CreateCheckpointTopic: CreateTopics at start when metadata does not list it.
    return Ok(std::move(line),
              "missing; the relay creates it at start (1 partition, cleanup.policy=compact), which needs "
              "Create permission on it");
  }
  switch (auto_create.value) {
    case AutoCreate::kOn:
      return Ok(std::move(line), "missing; the broker creates it on the first write (" +
                                     std::string(kAutoCreateKey) +
                                     "=true), with its default num.partitions and max.message.bytes");
    case AutoCreate::kOff:
      return Fail(std::move(line),
                  "missing, and the broker does not create topics on first use (" + std::string(kAutoCreateKey) +
                      "=false)",
                  CreateTopicHint(topic, context));
    case AutoCreate::kUnknown:
      break;
  }
  return Fail(
      std::move(line),
      "missing, and whether the broker creates it on first use is unknown (" + auto_create.unknown_reason + ")",
      CreateTopicHint(topic, context) + "; or let the relay's principal read the broker's configs " +
          "(--operation DescribeConfigs --cluster) so check can read " + kAutoCreateKey);
}

}  // namespace

std::vector<TopicToCheck> TopicsToCheck(const config::Config& config) {
  std::vector<TopicToCheck> topics;
  if (config.delivery == config::DeliveryMode::kExactlyOnce) {
    Add(topics, config.exactly_once.checkpoint_topic, TopicRole::kCheckpoint, "exactly_once.checkpoint_topic");
  }
  if (config.on_poison == config::PoisonPolicy::kDeadLetter) {
    Add(topics, config.dead_letter.topic, TopicRole::kDeadLetter, "dead_letter.topic");
  }
  if (IsLiteral(config.outbox.topic)) Add(topics, config.outbox.topic, TopicRole::kRouting, "outbox.topic");
  for (std::size_t i = 0; i < config.outbox.routes.size(); ++i) {
    const std::string& topic = config.outbox.routes[i].topic;
    // An empty route topic means outbox.topic, listed above.
    if (!topic.empty() && IsLiteral(topic)) {
      Add(topics, topic, TopicRole::kRouting, "outbox.routes[" + std::to_string(i) + "].topic");
    }
  }
  return topics;
}

TopicCode ClassifyTopicCode(rd_kafka_resp_err_t code) {
  switch (sinks::ClassifyKafkaError(code)) {
    case sinks::KafkaErrorCategory::kNoError:
      return TopicCode::kOk;
    case sinks::KafkaErrorCategory::kUnknownTopic:
      return TopicCode::kMissing;
    case sinks::KafkaErrorCategory::kNotAuthorized:
      return TopicCode::kDenied;
    case sinks::KafkaErrorCategory::kAcksRefused:
      return TopicCode::kAcksRefused;
    // Everything else says nothing about existence or permission: timeouts, transport and
    // authentication failures, leader elections, and codes of other APIs.
    case sinks::KafkaErrorCategory::kFenced:
    case sinks::KafkaErrorCategory::kFatal:
    case sinks::KafkaErrorCategory::kTimedOut:
    case sinks::KafkaErrorCategory::kTooLarge:
    case sinks::KafkaErrorCategory::kPurged:
    case sinks::KafkaErrorCategory::kAllBrokersDown:
    case sinks::KafkaErrorCategory::kAuthentication:
    case sinks::KafkaErrorCategory::kTls:
    case sinks::KafkaErrorCategory::kAlreadyExists:
    case sinks::KafkaErrorCategory::kPartitionEnd:
    case sinks::KafkaErrorCategory::kInvalidState:
    case sinks::KafkaErrorCategory::kOther:
      break;
  }
  return TopicCode::kOther;
}

AutoCreateSetting ReadAutoCreate(rd_kafka_resp_err_t code, const std::optional<std::string>& value) {
  switch (ClassifyTopicCode(code)) {
    case TopicCode::kOk:
      break;
    case TopicCode::kDenied:
      return {AutoCreate::kUnknown, "not permitted to describe the broker's configs"};
    case TopicCode::kMissing:
    case TopicCode::kAcksRefused:
    case TopicCode::kOther:
      return {AutoCreate::kUnknown, "cannot describe the broker's configs: " + ErrorText(code)};
  }
  if (!value) return {AutoCreate::kUnknown, "the broker's configs do not list " + std::string(kAutoCreateKey)};
  if (Lower(*value) == "true") return {AutoCreate::kOn, ""};
  if (Lower(*value) == "false") return {AutoCreate::kOff, ""};
  return {AutoCreate::kUnknown, std::string(kAutoCreateKey) + " is \"" + *value + "\""};
}

std::string RelayPrincipal(const std::map<std::string, std::string>& kafka) {
  if (const std::string* user = Find(kafka, "sasl.username"); user && !user->empty()) return "User:" + *user;
  const std::string* protocol = Find(kafka, "security.protocol");
  const std::string lower = protocol ? Lower(*protocol) : "plaintext";
  if (lower == "plaintext") return "User:ANONYMOUS";
  if (lower == "ssl") return "User:<the subject of kafka.ssl.certificate.location>";
  return "User:<the relay's principal>";
}

TopicCheckContext ContextFor(const config::Config& config) {
  TopicCheckContext context;
  for (const char* key : {"bootstrap.servers", "metadata.broker.list"}) {
    if (const std::string* servers = Find(config.kafka, key)) context.bootstrap_servers = *servers;
  }
  context.principal = RelayPrincipal(config.kafka);
  return context;
}

std::string AclHint(const TopicToCheck& topic, const TopicCheckContext& context) {
  const bool read = topic.role == TopicRole::kCheckpoint;
  return std::string("let the relay's principal ") + (read ? "describe, write and read" : "describe and write") +
         " it: kafka-acls --bootstrap-server " + context.bootstrap_servers + " --add --allow-principal " +
         context.principal + " --operation Write --operation Describe" + (read ? " --operation Read" : "") +
         " --topic " + topic.name;
}

std::string CreateTopicHint(const TopicToCheck& topic, const TopicCheckContext& context) {
  const bool dead_letter = topic.role == TopicRole::kDeadLetter;
  return "create it: kafka-topics --bootstrap-server " + context.bootstrap_servers + " --create --topic " +
         topic.name + (dead_letter ? " --partitions 1" : " --partitions <N>") +
         " --config max.message.bytes=<bytes> (" +
         (dead_letter ? "bytes: at least the largest outbox row"
                      : "N: the consumers' parallelism, fixed for good since it decides each key's partition; "
                        "bytes: at least the largest event") +
         "; see docs/adding-an-outbox.md)";
}

TopicCheckLine JudgeTopic(const TopicToCheck& topic, const TopicFacts& facts, const AutoCreateSetting& auto_create,
                          const TopicCheckContext& context) {
  TopicCheckLine line;
  line.what = "kafka topic " + topic.name + " (" + Join(topic.keys) + ")";
  switch (ClassifyTopicCode(facts.metadata)) {
    case TopicCode::kOk:
      return JudgeExisting(topic, facts, context, std::move(line));
    case TopicCode::kMissing:
      return JudgeMissing(topic, auto_create, context, std::move(line));
    case TopicCode::kDenied:
      return Fail(std::move(line), "the relay may not describe it (" + ErrorText(facts.metadata) + ")",
                  AclHint(topic, context));
    case TopicCode::kAcksRefused:
    case TopicCode::kOther:
      break;
  }
  return Fail(std::move(line), "no metadata for it (" + ErrorText(facts.metadata) + ")",
              "the brokers answered this for the topic: see their logs, and run check again");
}

}  // namespace outbox_relay::ops
