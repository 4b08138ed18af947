#pragma once

// librdkafka's in-process mock cluster, for the KafkaSink tests.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "base/c_handle.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::sinks {

// An in-process cluster owned by the test, on a plain handle of its own, so the sink under test
// connects to it like to any cluster, through bootstrap.servers. Each topic is replicated on
// every broker.
class MockCluster {
 public:
  struct Topic {
    std::string name;
    int partitions = 1;
  };

  MockCluster(int broker_count, const std::vector<Topic>& topics) {
    KafkaConfHandle conf(rd_kafka_conf_new());
    std::array<char, 512> error{};
    // The owner handle has no bootstrap.servers on purpose; its warning about that is noise.
    rd_kafka_conf_set(conf.get(), "log_level", "3", error.data(), error.size());
    owner_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
    if (!owner_) throw std::runtime_error(std::string("mock owner handle: ") + error.data());
    static_cast<void>(conf.release());  // owned by the handle now
    cluster_.reset(rd_kafka_mock_cluster_new(owner_.get(), broker_count));
    if (!cluster_) throw std::runtime_error("cannot create the mock cluster");
    for (const auto& topic : topics) {
      rd_kafka_mock_topic_create(cluster_.get(), topic.name.c_str(), topic.partitions, broker_count);
    }
  }

  rd_kafka_mock_cluster_t* get() const { return cluster_.get(); }
  std::string Bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_.get()); }

  // Errors still waiting in `broker`'s stack for `api_key` requests.
  std::size_t PendingErrors(std::int32_t broker, std::int16_t api_key) const {
    std::size_t count = 0;
    rd_kafka_mock_broker_error_stack_cnt(cluster_.get(), broker, api_key, &count);
    return count;
  }

 private:
  using MockClusterHandle = base::CHandle<rd_kafka_mock_cluster_t, rd_kafka_mock_cluster_destroy>;

  KafkaHandle owner_;  // destroyed after the cluster, which runs on it
  MockClusterHandle cluster_;
};

}  // namespace outbox_relay::sinks
