#include "sinks/kafka_checkpoint_store.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <set>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "sinks/kafka_detail.hpp"
#include "sinks/kafka_sink.hpp"

namespace outbox_relay::sinks {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kAdminTimeout = std::chrono::seconds(30);
constexpr auto kReadTimeout = std::chrono::seconds(30);
// The opaque of checkpoint records: a unique address no event tag can equal.
char checkpoint_marker;

}  // namespace

KafkaCheckpointStore::KafkaCheckpointStore(std::map<std::string, std::string> properties,
                                           const KafkaTransactionSettings& settings)
    : properties_(std::move(properties)),
      topic_(settings.checkpoint_topic),
      slot_(settings.slot),
      replication_factor_(settings.checkpoint_replication_factor),
      transaction_timeout_(settings.transaction_timeout) {}

void KafkaCheckpointStore::CreateTopic(rd_kafka_t* producer) const {
  std::array<char, 512> error{};
  const int replication = replication_factor_ == 0 ? -1  // the broker's default.replication.factor (KIP-464)
                                                   : static_cast<int>(replication_factor_);
  KafkaNewTopicHandle topic(rd_kafka_NewTopic_new(topic_.c_str(), 1, replication, error.data(), error.size()));
  if (!topic) throw SinkError("exactly_once.checkpoint_topic: " + std::string(error.data()));
  // No longer than the transaction timeout either, like rd_kafka_init_transactions, so that an
  // unreachable cluster hands control back to the relay's retry loop as promptly as configured.
  const int wait = detail::Millis(std::min<std::chrono::milliseconds>(kAdminTimeout, transaction_timeout_));

  // Brokers authorise CreateTopics before looking for the topic, so without this check a
  // principal lacking CREATE would fail even on a checkpoint topic created for it in advance.
  // All topics are listed because naming this one could let the broker auto-create it, uncompacted.
  const rd_kafka_metadata_t* metadata = nullptr;
  if (const auto code = rd_kafka_metadata(producer, 1, nullptr, &metadata, wait);
      code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("cannot read Kafka cluster metadata: " + std::string(rd_kafka_err2str(code)), true);
  }
  KafkaMetadataHandle metadata_owner(metadata);
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    if (topic_ == metadata->topics[i].topic && metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  }

  // Only the newest checkpoint per slot matters.
  rd_kafka_NewTopic_set_config(topic.get(), "cleanup.policy", "compact");
  KafkaQueueHandle queue(rd_kafka_queue_new(producer));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(producer, topics, 1, nullptr, queue.get());
  KafkaEventHandle result(rd_kafka_queue_poll(queue.get(), wait));
  if (!result) throw SinkError("timed out creating checkpoint topic " + topic_, true);
  if (rd_kafka_event_error(result.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("cannot create checkpoint topic " + topic_ + ": " + rd_kafka_event_error_string(result.get()),
                    true);
  }
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(result.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    switch (ClassifyKafkaError(rd_kafka_topic_result_error(results[i]))) {
      case KafkaErrorCategory::kNoError:
        detail::Log().info("created checkpoint topic {} (compacted)", topic_);
        break;
      case KafkaErrorCategory::kAlreadyExists:
        break;
      // Retrying cannot help: only the operator can grant the ACL or create the topic.
      case KafkaErrorCategory::kNotAuthorized:
        throw SinkError("not allowed to create checkpoint topic " + topic_ +
                        ": grant the relay's principal CREATE on it, or create it yourself "
                        "(cleanup.policy=compact) and set exactly_once.checkpoint_topic");
      case KafkaErrorCategory::kFenced:
      case KafkaErrorCategory::kFatal:
      case KafkaErrorCategory::kTimedOut:
      case KafkaErrorCategory::kTooLarge:
      case KafkaErrorCategory::kPurged:
      case KafkaErrorCategory::kAllBrokersDown:
      case KafkaErrorCategory::kAuthentication:
      case KafkaErrorCategory::kTls:
      case KafkaErrorCategory::kUnknownTopic:
      case KafkaErrorCategory::kAcksRefused:
      case KafkaErrorCategory::kPartitionEnd:
      case KafkaErrorCategory::kInvalidState:
      case KafkaErrorCategory::kOther:
        throw SinkError(
            "cannot create checkpoint topic " + topic_ + ": " + rd_kafka_topic_result_error_string(results[i]),
            true);
    }
  }
}

std::optional<std::string> KafkaCheckpointStore::Read() const {
  KafkaConfHandle conf = detail::MakeCheckpointReaderConf(properties_);
  std::array<char, 512> error{};
  KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error.data(), error.size()));
  if (!consumer) throw SinkError(std::string("cannot create checkpoint reader: ") + error.data());
  static_cast<void>(conf.release());  // owned by the consumer now

  const rd_kafka_metadata_t* metadata = nullptr;
  KafkaTopicHandle topic(rd_kafka_topic_new(consumer.get(), topic_.c_str(), nullptr));
  if (rd_kafka_metadata(consumer.get(), 0, topic.get(), &metadata, detail::Millis(kAdminTimeout)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("cannot read metadata of checkpoint topic " + topic_, true);
  }
  KafkaMetadataHandle metadata_owner(metadata);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("checkpoint topic " + topic_ + " is not available", true);
  }
  base::CHandle<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy> partitions(
      rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt));
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    rd_kafka_topic_partition_list_add(partitions.get(), topic_.c_str(), metadata->topics[0].partitions[i].id)
        ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer.get(), partitions.get());

  // Compaction may keep older records of the slot beside the newest: the last one read wins.
  std::optional<std::string> commit_lsn;
  std::set<std::int32_t> at_end;
  const auto deadline = Clock::now() + kReadTimeout;
  while (static_cast<int>(at_end.size()) < partitions->cnt) {
    if (Clock::now() > deadline) throw SinkError("timed out reading checkpoint topic " + topic_, true);
    base::CHandle<rd_kafka_message_t, rd_kafka_message_destroy> message(
        rd_kafka_consumer_poll(consumer.get(), 200));
    if (!message) continue;
    if (ClassifyKafkaError(message->err) == KafkaErrorCategory::kPartitionEnd) {
      at_end.insert(message->partition);
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw SinkError("reading checkpoint topic: " + std::string(rd_kafka_message_errstr(message.get())), true);
    }
    const std::string_view key(static_cast<const char*>(message->key), message->key_len);
    if (key != slot_ || message->payload == nullptr) continue;
    const auto value = nlohmann::json::parse(
        std::string_view(static_cast<const char*>(message->payload), message->len), nullptr, false);
    if (!value.is_object() || !value.contains("commit_lsn") || !value["commit_lsn"].is_string()) {
      throw SinkError("checkpoint record for slot " + slot_ + " in " + topic_ +
                      " is not {\"slot\", \"commit_lsn\"} JSON");
    }
    commit_lsn = value["commit_lsn"].get<std::string>();
  }
  rd_kafka_consumer_close(consumer.get());
  return commit_lsn;
}

rd_kafka_resp_err_t KafkaCheckpointStore::Write(rd_kafka_t* producer, const std::string& commit_lsn) const {
  const nlohmann::json checkpoint = {{"slot", slot_}, {"commit_lsn", commit_lsn}};
  const std::string value = checkpoint.dump();
  return rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_KEY(slot_.data(), slot_.size()),
                           RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                           RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&checkpoint_marker),
                           RD_KAFKA_V_END);
}

bool KafkaCheckpointStore::IsCheckpoint(const rd_kafka_message_t& message) {
  return message._private == &checkpoint_marker;
}

}  // namespace outbox_relay::sinks
