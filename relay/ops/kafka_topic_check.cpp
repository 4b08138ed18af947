// `outbox-relay check`'s Kafka topic checks, the pure part: which topics to check and how the
// brokers' answers read. CheckKafkaTopics, which asks them, is in kafka_topic_probe.cpp.

#include "relay/ops/kafka_topic_check.hpp"

#include <stdexcept>
#include <utility>

#include "config/topic_template.hpp"

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
    return Ok(std::move(line), exists + "; write permission not verified (no answer to the produce probe in time)");
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
      return Fail(std::move(line), exists + ", but the relay may not write to it (" + ErrorText(*facts.probe) + ")",
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
      return Ok(std::move(line), "missing; the broker creates it on the first write (" + std::string(kAutoCreateKey) +
                                     "=true), with its default num.partitions and max.message.bytes");
    case AutoCreate::kOff:
      return Fail(std::move(line),
                  "missing, and the broker does not create topics on first use (" + std::string(kAutoCreateKey) +
                      "=false)",
                  CreateTopicHint(topic, context));
    case AutoCreate::kUnknown:
      break;
  }
  return Fail(std::move(line),
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
  switch (code) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return TopicCode::kOk;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return TopicCode::kMissing;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return TopicCode::kDenied;
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
      return TopicCode::kAcksRefused;
    // Everything else says nothing about existence or permission: timeouts, transport and
    // authentication failures, leader elections, and codes of other APIs.
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE: case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS: case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTH_DISABLED: case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_EXPIRED:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_NOT_FOUND: case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_OWNER_MISMATCH:
    case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: case RD_KAFKA_RESP_ERR_DUPLICATE_RESOURCE:
    case RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER: case RD_KAFKA_RESP_ERR_ELECTION_NOT_NEEDED:
    case RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE: case RD_KAFKA_RESP_ERR_END_ALL:
    case RD_KAFKA_RESP_ERR_FEATURE_UPDATE_FAILED: case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH: case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED: case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_GROUP_MAX_SIZE_REACHED: case RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION: case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
    case RD_KAFKA_RESP_ERR_INCONSISTENT_GROUP_PROTOCOL: case RD_KAFKA_RESP_ERR_INCONSISTENT_VOTER_SET:
    case RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE: case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH: case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_INVALID_MSG: case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS: case RD_KAFKA_RESP_ERR_INVALID_PRINCIPAL_TYPE:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH: case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD: case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT: case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT: case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT: case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE:
    case RD_KAFKA_RESP_ERR_INVALID_UPDATE_VERSION: case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE: case RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_LOG_DIR_NOT_FOUND: case RD_KAFKA_RESP_ERR_MEMBER_ID_REQUIRED:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP: case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR: case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND: case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NO_REASSIGNMENT_IN_PROGRESS: case RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE: case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR_OPERATION_NOT_ATTEMPTED: case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION: case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PRINCIPAL_DESERIALIZATION_FAILURE: case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_REASSIGNMENT_IN_PROGRESS: case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: case RD_KAFKA_RESP_ERR_RESOURCE_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED: case RD_KAFKA_RESP_ERR_SECURITY_DISABLED:
    case RD_KAFKA_RESP_ERR_STALE_BROKER_EPOCH: case RD_KAFKA_RESP_ERR_STALE_CTRL_EPOCH:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED: case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
    case RD_KAFKA_RESP_ERR_TOPIC_DELETION_DISABLED: case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTION_COORDINATOR_FENCED: case RD_KAFKA_RESP_ERR_UNACCEPTABLE_CREDENTIAL:
    case RD_KAFKA_RESP_ERR_UNKNOWN: case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID: case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT: case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT: case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION: case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__APPLICATION: case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET: case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
    case RD_KAFKA_RESP_ERR__BAD_MSG: case RD_KAFKA_RESP_ERR__BEGIN: case RD_KAFKA_RESP_ERR__CONFLICT:
    case RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE: case RD_KAFKA_RESP_ERR__DESTROY: case RD_KAFKA_RESP_ERR__END:
    case RD_KAFKA_RESP_ERR__EXISTING_SUBSCRIPTION: case RD_KAFKA_RESP_ERR__FAIL:
    case RD_KAFKA_RESP_ERR__FATAL: case RD_KAFKA_RESP_ERR__FENCED: case RD_KAFKA_RESP_ERR__FS:
    case RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE: case RD_KAFKA_RESP_ERR__INCONSISTENT:
    case RD_KAFKA_RESP_ERR__INTR: case RD_KAFKA_RESP_ERR__INVALID_ARG: case RD_KAFKA_RESP_ERR__INVALID_TYPE:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS: case RD_KAFKA_RESP_ERR__ISR_INSUFF:
    case RD_KAFKA_RESP_ERR__KEY_DESERIALIZATION: case RD_KAFKA_RESP_ERR__KEY_SERIALIZATION:
    case RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED: case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE: case RD_KAFKA_RESP_ERR__NOENT: case RD_KAFKA_RESP_ERR__NOOP:
    case RD_KAFKA_RESP_ERR__NOT_CONFIGURED: case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR__NO_OFFSET: case RD_KAFKA_RESP_ERR__OUTDATED: case RD_KAFKA_RESP_ERR__PARTIAL:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF: case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT: case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: case RD_KAFKA_RESP_ERR__READ_ONLY: case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__RETRY: case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__STATE: case RD_KAFKA_RESP_ERR__TIMED_OUT: case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT: case RD_KAFKA_RESP_ERR__UNDERFLOW:
    case RD_KAFKA_RESP_ERR__UNKNOWN_BROKER: case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PROTOCOL: case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__VALUE_DESERIALIZATION: case RD_KAFKA_RESP_ERR__VALUE_SERIALIZATION:
    case RD_KAFKA_RESP_ERR__WAIT_CACHE: case RD_KAFKA_RESP_ERR__WAIT_COORD:
      return TopicCode::kOther;
  }
  return TopicCode::kOther;  // a value outside the enum
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
         (dead_letter ? "bytes: at least the largest outbox row" :
                        "N: the consumers' parallelism, fixed for good since it decides each key's partition; "
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
