#pragma once

// The inbox's Kafka consumer (librdkafka): read_committed, offsets never auto-committed or
// auto-stored. Where to read is PostgreSQL's to say (inbox.positions): on every assignment, the
// group's or the static one, each partition starts at the position the caller looks up. Used on
// one thread: rebalances are served inside Poll().

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "inbox/inbox_record.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::inbox {

using TopicPartition = std::pair<std::string, std::int32_t>;

/// The offset to start each assigned partition at; a partition left out starts at the
/// beginning (nothing of it was applied). nullopt: the positions cannot be read now (the
/// consumer asks again after a pause, unless told to stop).
using PositionLookup =
    std::function<std::optional<std::map<TopicPartition, std::int64_t>>(const std::vector<TopicPartition>&)>;

/// A problem the consumer cannot go on after (a fatal librdkafka error, a bad property).
class ConsumerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InboxConsumer {
 public:
  /// Builds the consumer of config.inbox over the kafka.* properties; throws ConsumerError for
  /// a property librdkafka refuses. `stopping` ends a pending position lookup's retries.
  InboxConsumer(const config::Config& config, PositionLookup positions, std::function<bool()> stopping);
  ~InboxConsumer();
  InboxConsumer(const InboxConsumer&) = delete;
  InboxConsumer& operator=(const InboxConsumer&) = delete;

  /// Subscribes (group) or assigns (inbox.partitions).
  void Start();

  /// The next record within `timeout`, or none. Rebalances run in here; after one, Revoked()
  /// is true until ClearRevoked(): records read before it may belong to another member now.
  std::optional<KafkaRecord> Poll(std::chrono::milliseconds timeout);
  bool Revoked() const { return revoked_; }
  void ClearRevoked() { revoked_ = false; }

  /// Tells the group the positions a batch reached (asynchronously, for lag tools only: the
  /// inbox never resumes from Kafka's committed offsets).
  void CommitPositions(const std::map<TopicPartition, std::int64_t>& next_offsets);

  /// The partitions assigned now, each with its low and high watermark as of the last fetch
  /// (cached by librdkafka: no request); a partition not fetched from yet is left out.
  struct Watermarks {
    std::int64_t low = 0;
    std::int64_t high = 0;
  };
  std::map<TopicPartition, Watermarks> AssignedWatermarks();
  const std::vector<TopicPartition>& Assignment() const { return assigned_; }

  /// Leaves the group (the partitions move to the other members at once).
  void Close();

 private:
  friend void OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*, void*);
  void Assign(rd_kafka_topic_partition_list_t* partitions);

  const config::Config& config_;
  PositionLookup positions_;
  std::function<bool()> stopping_;
  sinks::KafkaHandle consumer_;
  std::vector<TopicPartition> assigned_;
  bool revoked_ = false;
  bool closed_ = false;
};

}  // namespace outbox_relay::inbox
