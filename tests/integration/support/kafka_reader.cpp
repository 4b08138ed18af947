#include "support/kafka_reader.hpp"

#include <librdkafka/rdkafka.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>

namespace outbox_relay::it {
namespace {

void SetConf(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka reader config ") + name + ": " + error);
  }
}

std::string RandomGroup() {
  std::random_device device;
  return "it-reader-" + std::to_string(device()) + "-" + std::to_string(device());
}

}  // namespace

std::optional<std::string> KafkaRecord::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

std::size_t KafkaRecord::HeaderCount(const std::string& name) const {
  std::size_t count = 0;
  for (const auto& header : headers) count += header.first == name ? 1 : 0;
  return count;
}

KafkaReader::KafkaReader(const std::string& bootstrap_servers, std::vector<std::string> topics)
    : topics_(std::move(topics)) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  SetConf(conf, "bootstrap.servers", bootstrap_servers);
  // A group id is required by the consumer API; we never subscribe or commit with it.
  SetConf(conf, "group.id", RandomGroup());
  SetConf(conf, "isolation.level", "read_committed");
  SetConf(conf, "enable.auto.commit", "false");
  SetConf(conf, "enable.auto.offset.store", "false");
  SetConf(conf, "enable.partition.eof", "true");
  SetConf(conf, "auto.offset.reset", "earliest");
  SetConf(conf, "allow.auto.create.topics", "false");
  SetConf(conf, "topic.metadata.refresh.interval.ms", "1000");
  // The broker serves one request per connection at a time: a long-polling fetch (default
  // 500 ms) would hold every metadata / watermark query of CatchUp behind it.
  SetConf(conf, "fetch.wait.max.ms", "10");
  SetConf(conf, "log_level", "3");
  char error[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (rk_ == nullptr) {
    throw std::runtime_error(std::string("rd_kafka_new (consumer): ") + error);
  }
  rd_kafka_poll_set_consumer(rk_);
}

KafkaReader::~KafkaReader() {
  if (rk_ != nullptr) {
    rd_kafka_assign(rk_, nullptr);
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
}

std::map<std::string, int> KafkaReader::PartitionCounts() const {
  std::map<std::string, int> counts;
  for (const auto& topic : topics_) counts[topic] = 0;
  for (const auto& entry : partitions_) ++counts[entry.first.first];
  return counts;
}

std::map<std::string, std::string> KafkaReader::TopicConfig(const std::string& topic,
                                                            std::chrono::milliseconds timeout) {
  // The admin objects live until the end of this call; each is destroyed once, here.
  rd_kafka_ConfigResource_t* resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk_);
  char error[512];
  rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), error, sizeof error);
  rd_kafka_DescribeConfigs(rk_, &resource, 1, options, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, static_cast<int>(timeout.count()) + 1000);
  std::map<std::string, std::string> config;
  std::string failure;
  if (event == nullptr) {
    failure = "no answer";
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failure = rd_kafka_event_error_string(event);
  } else if (const auto* result = rd_kafka_event_DescribeConfigs_result(event)) {
    std::size_t count = 0;
    const rd_kafka_ConfigResource_t** resources = rd_kafka_DescribeConfigs_result_resources(result, &count);
    for (std::size_t r = 0; r < count; ++r) {
      if (rd_kafka_ConfigResource_error(resources[r]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failure = rd_kafka_ConfigResource_error_string(resources[r]);
        continue;
      }
      std::size_t entries = 0;
      const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(resources[r], &entries);
      for (std::size_t e = 0; e < entries; ++e) {
        const char* value = rd_kafka_ConfigEntry_value(configs[e]);
        if (value != nullptr) config[rd_kafka_ConfigEntry_name(configs[e])] = value;
      }
    }
  } else {
    failure = "unexpected event";
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_ConfigResource_destroy(resource);
  if (!failure.empty()) {
    throw std::runtime_error("DescribeConfigs " + topic + ": " + failure);
  }
  return config;
}

bool KafkaReader::RefreshPartitions(std::chrono::steady_clock::time_point deadline) {
  bool changed = false;
  for (const auto& topic : topics_) {
    while (true) {
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
      const rd_kafka_metadata_t* metadata = nullptr;
      rd_kafka_resp_err_t err = rd_kafka_metadata(rk_, 0, rkt, &metadata, 5000);
      rd_kafka_topic_destroy(rkt);
      bool retry = false;
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (std::getenv("OUTBOX_RELAY_IT_DEBUG") != nullptr) {
          std::cerr << "[ kafka reader ] metadata " << topic << ": " << rd_kafka_err2str(err) << "\n";
        }
        retry = true;
      } else {
        for (int t = 0; t < metadata->topic_cnt; ++t) {
          const auto& md_topic = metadata->topics[t];
          if (topic != md_topic.topic) continue;
          if (md_topic.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) break;  // not created yet
          if (md_topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || md_topic.partition_cnt == 0) {
            retry = true;  // e.g. leader not available right after auto-creation
            break;
          }
          for (int p = 0; p < md_topic.partition_cnt; ++p) {
            PartitionKey key{topic, md_topic.partitions[p].id};
            if (partitions_.emplace(key, PartitionState{}).second) changed = true;
          }
        }
        rd_kafka_metadata_destroy(metadata);
      }
      if (!retry) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("kafka metadata for topic " + topic + " not available: " + rd_kafka_err2str(err));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return changed;
}

void KafkaReader::Assign() {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size()));
  for (const auto& [key, state] : partitions_) {
    rd_kafka_topic_partition_list_add(list, key.first.c_str(), key.second)->offset = state.next_offset;
  }
  rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("rd_kafka_assign: ") + rd_kafka_err2str(err));
  }
}

std::size_t KafkaReader::CatchUp(std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  const bool debug = std::getenv("OUTBOX_RELAY_IT_DEBUG") != nullptr;
  auto trace = [&](const std::string& what) {
    if (debug) {
      std::cerr << "[ kafka reader ] +"
                << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                       .count()
                << " ms " << what << "\n";
    }
  };
  if (RefreshPartitions(deadline)) Assign();
  trace("metadata");

  std::map<PartitionKey, std::int64_t> targets;
  for (const auto& [key, state] : partitions_) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    while (true) {
      rd_kafka_resp_err_t err =
          rd_kafka_query_watermark_offsets(rk_, key.first.c_str(), key.second, &low, &high, 5000);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      trace("query_watermark_offsets " + key.first + "/" + std::to_string(key.second) + ": " +
            rd_kafka_err2str(err));
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("query_watermark_offsets " + key.first + "/" + std::to_string(key.second) + ": " +
                                 rd_kafka_err2str(err));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    targets[key] = high;
  }
  trace("watermarks");

  auto all_reached = [&] {
    for (const auto& [key, target] : targets) {
      if (partitions_.at(key).reached < target) return false;
    }
    return true;
  };

  std::size_t read = 0;
  while (!all_reached()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string detail;
      for (const auto& [key, target] : targets) {
        const auto& state = partitions_.at(key);
        if (state.reached < target) {
          detail += " " + key.first + "/" + std::to_string(key.second) + " at " + std::to_string(state.reached) +
                    " of " + std::to_string(target) + ";";
        }
      }
      throw std::runtime_error("kafka reader did not reach the end of:" + detail);
    }
    rd_kafka_message_t* message = rd_kafka_consumer_poll(rk_, 200);
    if (message == nullptr) continue;
    std::string topic = message->rkt != nullptr ? rd_kafka_topic_name(message->rkt) : "";
    PartitionKey key{topic, message->partition};
    auto state = partitions_.find(key);
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      trace("eof " + topic + "/" + std::to_string(message->partition) + " at " + std::to_string(message->offset));
      if (state != partitions_.end() && message->offset > state->second.reached) {
        state->second.reached = message->offset;
      }
    } else if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Transient consumer errors (broker transport, etc.) are retried by librdkafka.
      if (message->err == RD_KAFKA_RESP_ERR__FATAL) {
        std::string what = rd_kafka_message_errstr(message);
        rd_kafka_message_destroy(message);
        throw std::runtime_error("kafka reader fatal error: " + what);
      }
    } else if (state != partitions_.end()) {
      KafkaRecord record;
      record.topic = topic;
      record.partition = message->partition;
      record.offset = message->offset;
      rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
      record.timestamp_ms = rd_kafka_message_timestamp(message, &timestamp_type);
      if (message->key != nullptr) {
        record.key.emplace(static_cast<const char*>(message->key), message->key_len);
      }
      if (message->payload != nullptr) {
        record.value.emplace(static_cast<const char*>(message->payload), message->len);
      }
      rd_kafka_headers_t* headers = nullptr;
      if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t size = 0;
        for (std::size_t i = 0;
             rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          record.headers.emplace_back(name, value != nullptr ? std::optional<std::string>(std::string(
                                                                   static_cast<const char*>(value), size))
                                                             : std::nullopt);
        }
      }
      state->second.next_offset = message->offset + 1;
      if (message->offset + 1 > state->second.reached) state->second.reached = message->offset + 1;
      records_.push_back(std::move(record));
      ++read;
    }
    rd_kafka_message_destroy(message);
  }
  trace("done, " + std::to_string(read) + " records");
  return read;
}

}  // namespace outbox_relay::it
