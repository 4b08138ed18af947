#pragma once

// A librdkafka client for the tests' own admin work on a broker: topics, ACLs, offsets.

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/c_handle.hpp"

namespace outbox_relay::it {

/// Creates topics and ACLs, reads topic lists and end offsets, produces test records. Never
/// auto-creates a topic. Calls block for up to 30 s and throw std::runtime_error on failure.
class KafkaAdmin {
 public:
  /// librdkafka properties: bootstrap.servers at least.
  explicit KafkaAdmin(const std::map<std::string, std::string>& properties);

  /// Creates `name` with `partitions` (replication factor 1) and the topic configs `configs`,
  /// and waits until the broker serves it.
  void CreateTopic(const std::string& name, int partitions,
                   const std::map<std::string, std::string>& configs = {});

  /// ALLOW `principal` `operation` on topic `topic` from any host.
  void Allow(const std::string& principal, rd_kafka_AclOperation_t operation, const std::string& topic);

  /// The topic's metadata error as this client sees it (NO_ERROR: it exists and may be described).
  rd_kafka_resp_err_t TopicError(const std::string& name);

  /// Polls TopicError until it is `expected`; false after `timeout`.
  bool WaitForTopic(const std::string& name, rd_kafka_resp_err_t expected, std::chrono::milliseconds timeout);

  /// Every topic of the cluster (this client may describe all of them).
  std::set<std::string> Topics();

  /// partition -> end offset (high watermark) of every partition of `topic`.
  std::map<int, std::int64_t> EndOffsets(const std::string& topic, int partitions);

  /// A record to produce: partition, key, value (none: a tombstone) and headers.
  struct Record {
    int partition = 0;
    std::optional<std::string> key;
    std::optional<std::string> value;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  /// `records` to `topic`, in order, each acknowledged.
  void Produce(const std::string& topic, const std::vector<Record>& records);

  /// One record in each partition of `topic`, acknowledged.
  void ProduceOneEach(const std::string& topic, int partitions);

 private:
  base::CHandle<rd_kafka_t, rd_kafka_destroy> client_;
};

}  // namespace outbox_relay::it
