#pragma once

// Reads Kafka topics from the beginning with a read_committed consumer (no group, no commits),
// incrementally: each CatchUp() reads every partition up to the end it has at that moment.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct rd_kafka_s;

namespace outbox_relay::it {

struct KafkaRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = -1;  // the record's timestamp (producer create time by default)
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;

  /// The first header named `name` (nullopt if absent or null-valued).
  std::optional<std::string> Header(const std::string& name) const;
  std::size_t HeaderCount(const std::string& name) const;
};

class KafkaReader {
 public:
  KafkaReader(const std::string& bootstrap_servers, std::vector<std::string> topics);
  ~KafkaReader();
  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  /// Refreshes the topics' partitions (a topic not created yet counts as empty), queries each
  /// partition's end (query_watermark_offsets; with read_committed that is the last stable
  /// offset) and consumes until every partition reached it. Returns the number of records
  /// read by this call. Throws std::runtime_error if `timeout` passes first.
  std::size_t CatchUp(std::chrono::milliseconds timeout);

  /// Everything read so far, in the order consumed (per partition: offset order).
  const std::vector<KafkaRecord>& Records() const { return records_; }

  /// Partitions seen per topic (0 for a topic that does not exist yet).
  std::map<std::string, int> PartitionCounts() const;

  /// The topic's effective configuration (DescribeConfigs), name → value (null values
  /// omitted). Throws std::runtime_error on error or if `timeout` passes.
  std::map<std::string, std::string> TopicConfig(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  struct PartitionState {
    std::int64_t next_offset = -2;  // RD_KAFKA_OFFSET_BEGINNING until something was read
    std::int64_t reached = 0;       // we have read everything below this offset
  };
  using PartitionKey = std::pair<std::string, std::int32_t>;

  bool RefreshPartitions(std::chrono::steady_clock::time_point deadline);
  void Assign();

  rd_kafka_s* rk_ = nullptr;
  std::vector<std::string> topics_;
  std::map<PartitionKey, PartitionState> partitions_;
  std::vector<KafkaRecord> records_;
};

}  // namespace outbox_relay::it
