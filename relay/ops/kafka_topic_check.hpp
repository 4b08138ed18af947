#pragma once

// `outbox-relay check`'s Kafka topic checks: for each topic the config names literally, whether
// it exists (or the broker will create it), its partition count, and whether the relay's
// principal may write to it. The check never writes a record and never creates a topic.
//
// Split in two: which topics to check and how a result reads (pure, unit-tested;
// kafka_topic_check.cpp), and CheckKafkaTopics, which asks the brokers (kafka_topic_probe.cpp).

#include <librdkafka/rdkafka.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::ops {

/// What a topic is for: decides what a missing topic means and which ACLs a hint names.
enum class TopicRole { kRouting, kDeadLetter, kCheckpoint };

struct TopicToCheck {
  std::string name;
  TopicRole role = TopicRole::kRouting;
  std::vector<std::string> keys;  // the config keys that name it, e.g. "outbox.routes[1].topic"
};

/// The topics `check` looks at, each once, in this order: exactly_once.checkpoint_topic (only
/// with delivery: exactly-once), dead_letter.topic (only with on_poison: dead-letter),
/// outbox.topic and each outbox.routes[i].topic when they have no {placeholder}. A topic named
/// by several keys keeps the role of the first and lists every key.
std::vector<TopicToCheck> TopicsToCheck(const config::Config& config);

/// How check reads a librdkafka error code about one topic (metadata, produce probe) or about
/// the broker's configs.
enum class TopicCode {
  kOk,
  kMissing,      // the topic (or partition) does not exist
  kDenied,       // the principal lacks the ACL
  kAcksRefused,  // INVALID_REQUIRED_ACKS: the probe passed the broker's authorization
  kOther,
};
TopicCode ClassifyTopicCode(rd_kafka_resp_err_t code);

/// The broker setting that decides whether a missing topic is created on first use.
inline constexpr const char* kAutoCreateKey = "auto.create.topics.enable";

/// The broker's auto.create.topics.enable, as far as check could read it.
enum class AutoCreate { kOn, kOff, kUnknown };
struct AutoCreateSetting {
  AutoCreate value = AutoCreate::kUnknown;
  std::string unknown_reason;  // why kUnknown, e.g. "not permitted to describe the broker's configs"
};

/// From DescribeConfigs of a broker: its error code and the value of auto.create.topics.enable
/// (nullopt when the answer did not contain it).
AutoCreateSetting ReadAutoCreate(rd_kafka_resp_err_t code, const std::optional<std::string>& value);

/// What the brokers said about one topic.
struct TopicFacts {
  rd_kafka_resp_err_t metadata = RD_KAFKA_RESP_ERR_NO_ERROR;  // the topic's metadata error
  int partitions = 0;
  /// The delivery report of the produce probe (acks=2); nullopt when none arrived in time.
  /// Only topics that exist are probed.
  std::optional<rd_kafka_resp_err_t> probe;
};

/// What hints need to name: where to run the admin tools, and as whom the relay connects.
struct TopicCheckContext {
  std::string bootstrap_servers;
  std::string principal;  // e.g. "User:relay"
};

/// The principal the ACL hints name: User:<sasl.username>, User:ANONYMOUS over PLAINTEXT, or a
/// placeholder saying where the principal comes from (TLS certificate, other SASL mechanisms).
std::string RelayPrincipal(const std::map<std::string, std::string>& kafka);
TopicCheckContext ContextFor(const config::Config& config);

/// One line of check's output: "ok   <what>: <text>" or "FAIL <what>: <text>" plus the hint.
struct TopicCheckLine {
  bool ok = false;
  std::string what;  // "kafka topic <name> (<keys>)"
  std::string text;
  std::string hint;  // empty when ok
};

/// The verdict on one topic. Fails: a topic the relay may not describe or write to, a missing
/// topic the broker will not (or may not) create, a metadata error. The checkpoint topic may be
/// missing: the relay creates it at start.
TopicCheckLine JudgeTopic(const TopicToCheck& topic, const TopicFacts& facts, const AutoCreateSetting& auto_create,
                          const TopicCheckContext& context);

/// The kafka-acls command granting what the relay needs on `topic` (Describe and Write, plus
/// Read for the checkpoint topic, which the relay reads back at start).
std::string AclHint(const TopicToCheck& topic, const TopicCheckContext& context);
/// How to create a missing topic (kafka-topics with partitions and max.message.bytes).
std::string CreateTopicHint(const TopicToCheck& topic, const TopicCheckContext& context);

/// Asks the brokers about TopicsToCheck(config), with a client made from `conf` (the user's
/// kafka.* properties) set to never auto-create a topic and to produce with acks=2 without
/// idempotence: the broker authorises a produce request per topic before it refuses the whole
/// request for its acks value, so the probe learns whether the principal may write and appends
/// nothing. Only topics that exist are probed. Reads auto.create.topics.enable
/// (DescribeConfigs) only when a topic is missing. Blocks for up to about `timeout_ms` per
/// topic plus one `timeout_ms` for the probes; no exceptions (a client that cannot be made is
/// one failed line).
std::vector<TopicCheckLine> CheckKafkaTopics(const config::Config& config, sinks::KafkaConfHandle conf,
                                             int timeout_ms);

}  // namespace outbox_relay::ops
