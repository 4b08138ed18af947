#include "inbox/inbox_consumer.hpp"

#include <array>
#include <thread>

#include "inbox/inbox_log.hpp"

namespace outbox_relay::inbox {
namespace {

using PartitionListHandle = base::CHandle<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy>;
using MessageHandle = base::CHandle<rd_kafka_message_t, rd_kafka_message_destroy>;

constexpr std::chrono::milliseconds kLookupRetry{1000};

void SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  std::array<char, 512> error{};
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error.data(), error.size()) != RD_KAFKA_CONF_OK) {
    throw ConsumerError("kafka." + key + ": " + error.data());
  }
}

// librdkafka's own threads call this: spdlog's loggers are thread-safe.
void LogLibrdkafka(const rd_kafka_t*, int level, const char* facility, const char* text) {
  const auto spd_level = level <= 3   ? spdlog::level::err
                         : level == 4 ? spdlog::level::warn
                         : level <= 6 ? spdlog::level::info
                                      : spdlog::level::debug;
  InboxLog().log(spd_level, "librdkafka {}: {}", facility, text);
}

// Producer-only properties of a configuration shared with the relay: librdkafka would warn
// about each on a consumer.
bool IsProducerProperty(const std::string& key) {
  static const std::array<std::string_view, 12> kProducerOnly = {"acks",
                                                                 "enable.idempotence",
                                                                 "partitioner",
                                                                 "compression.type",
                                                                 "compression.codec",
                                                                 "linger.ms",
                                                                 "queue.buffering.max.ms",
                                                                 "queue.buffering.max.messages",
                                                                 "queue.buffering.max.kbytes",
                                                                 "batch.size",
                                                                 "batch.num.messages",
                                                                 "message.timeout.ms"};
  for (const std::string_view producer_key : kProducerOnly) {
    if (key == producer_key) return true;
  }
  return false;
}

}  // namespace

void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                 void* opaque) {
  auto& consumer = *static_cast<InboxConsumer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    consumer.Assign(partitions);
    return;
  }
  InboxLog().info("partitions revoked ({}); the next owner resumes from the positions in PostgreSQL",
                  partitions->cnt);
  consumer.revoked_ = true;
  consumer.assigned_.clear();
  rd_kafka_assign(rk, nullptr);
}

InboxConsumer::InboxConsumer(const config::Config& config, PositionLookup positions,
                             std::function<bool()> stopping)
    : config_(config), positions_(std::move(positions)), stopping_(std::move(stopping)) {
  sinks::KafkaConfHandle conf(rd_kafka_conf_new());
  for (const auto& [key, value] : config.kafka) {
    if (!IsProducerProperty(key)) SetProperty(conf.get(), key, value);
  }
  SetProperty(conf.get(), "group.id", config.inbox.GroupId());
  // Only committed transactions: an exactly-once relay's aborted attempts never reach a handler.
  SetProperty(conf.get(), "isolation.level", "read_committed");
  // PostgreSQL holds the positions; Kafka's committed offsets are informational, sent by us.
  SetProperty(conf.get(), "enable.auto.commit", "false");
  SetProperty(conf.get(), "enable.auto.offset.store", "false");
  SetProperty(conf.get(), "auto.offset.reset", "earliest");
  if (!config.kafka.contains("client.id")) SetProperty(conf.get(), "client.id", "outbox-relay-inbox");
  rd_kafka_conf_set_log_cb(conf.get(), LogLibrdkafka);
  rd_kafka_conf_set_rebalance_cb(conf.get(), OnRebalance);
  rd_kafka_conf_set_opaque(conf.get(), this);
  std::array<char, 512> error{};
  consumer_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error.data(), error.size()));
  if (!consumer_) throw ConsumerError(std::string("cannot create the Kafka consumer: ") + error.data());
  static_cast<void>(conf.release());  // rd_kafka_new owns it now
  rd_kafka_poll_set_consumer(consumer_.get());
}

InboxConsumer::~InboxConsumer() { Close(); }

void InboxConsumer::Start() {
  if (!config_.inbox.partitions.empty()) {
    PartitionListHandle list(rd_kafka_topic_partition_list_new(static_cast<int>(config_.inbox.partitions.size())));
    for (const std::string& item : config_.inbox.partitions) {
      const std::size_t colon = item.rfind(':');
      rd_kafka_topic_partition_list_add(list.get(), item.substr(0, colon).c_str(),
                                        static_cast<std::int32_t>(std::stol(item.substr(colon + 1))));
    }
    Assign(list.get());
    return;
  }
  const std::vector<std::string> topics = config_.inbox.Topics();
  PartitionListHandle list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const std::string& topic : topics) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer_.get(), list.get())) {
    throw ConsumerError(std::string("cannot subscribe: ") + rd_kafka_err2str(err));
  }
}

void InboxConsumer::Assign(rd_kafka_topic_partition_list_t* partitions) {
  std::vector<TopicPartition> wanted;
  for (int i = 0; i < partitions->cnt; ++i)
    wanted.emplace_back(partitions->elems[i].topic, partitions->elems[i].partition);
  std::optional<std::map<TopicPartition, std::int64_t>> positions;
  // No assignment without the stored positions: Kafka's offsets are not the truth.
  while (!(positions = positions_(wanted))) {
    if (stopping_()) {
      rd_kafka_assign(consumer_.get(), nullptr);
      return;
    }
    std::this_thread::sleep_for(kLookupRetry);
  }
  std::string described;
  for (int i = 0; i < partitions->cnt; ++i) {
    auto& partition = partitions->elems[i];
    const auto found = positions->find({partition.topic, partition.partition});
    partition.offset = found == positions->end() ? RD_KAFKA_OFFSET_BEGINNING : found->second;
    described += (described.empty() ? "" : ", ") + std::string(partition.topic) + "/" +
                 std::to_string(partition.partition) + "@" +
                 (found == positions->end() ? std::string("beginning") : std::to_string(found->second));
  }
  if (const rd_kafka_resp_err_t err = rd_kafka_assign(consumer_.get(), partitions)) {
    throw ConsumerError(std::string("cannot assign partitions: ") + rd_kafka_err2str(err));
  }
  assigned_ = std::move(wanted);
  InboxLog().info("assigned {} partitions, each from its position in PostgreSQL: {}", partitions->cnt, described);
}

std::optional<KafkaRecord> InboxConsumer::Poll(std::chrono::milliseconds timeout) {
  MessageHandle message(rd_kafka_consumer_poll(consumer_.get(), static_cast<int>(timeout.count())));
  if (!message) return std::nullopt;
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::nullopt;
    std::array<char, 512> reason{};
    if (rd_kafka_fatal_error(consumer_.get(), reason.data(), reason.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw ConsumerError(std::string("fatal Kafka consumer error: ") + reason.data());
    }
    // Unknown topic or partition, a broker away: librdkafka keeps trying by itself.
    InboxLog().warn("Kafka consumer: {}", rd_kafka_message_errstr(message.get()));
    return std::nullopt;
  }
  KafkaRecord record;
  record.topic = rd_kafka_topic_name(message->rkt);
  record.partition = message->partition;
  record.offset = message->offset;
  if (message->key != nullptr) record.key.emplace(static_cast<const char*>(message->key), message->key_len);
  if (message->payload != nullptr) record.value.emplace(static_cast<const char*>(message->payload), message->len);
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
      record.headers.emplace_back(
          name, value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size));
    }
  }
  return record;
}

void InboxConsumer::CommitPositions(const std::map<TopicPartition, std::int64_t>& next_offsets) {
  if (!config_.inbox.partitions.empty() || next_offsets.empty()) return;  // a static assignment has no group
  PartitionListHandle list(rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [partition, offset] : next_offsets) {
    rd_kafka_topic_partition_list_add(list.get(), partition.first.c_str(), partition.second)->offset = offset;
  }
  rd_kafka_commit(consumer_.get(), list.get(), 1);
}

std::map<TopicPartition, InboxConsumer::Watermarks> InboxConsumer::AssignedWatermarks() {
  std::map<TopicPartition, Watermarks> watermarks;
  for (const auto& [topic, partition] : assigned_) {
    Watermarks marks;
    if (rd_kafka_get_watermark_offsets(consumer_.get(), topic.c_str(), partition, &marks.low, &marks.high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        marks.high >= 0) {
      watermarks[{topic, partition}] = marks;
    }
  }
  return watermarks;
}

void InboxConsumer::Close() {
  if (closed_ || !consumer_) return;
  closed_ = true;
  rd_kafka_consumer_close(consumer_.get());
}

}  // namespace outbox_relay::inbox
