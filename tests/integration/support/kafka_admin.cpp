#include "support/kafka_admin.hpp"

#include <stdexcept>
#include <thread>

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kAdminTimeoutMs = 30000;

template <typename T, auto Destroy>
using Handle = base::CHandle<T, Destroy>;
using QueueHandle = Handle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using EventHandle = Handle<rd_kafka_event_t, rd_kafka_event_destroy>;
using MetadataHandle = Handle<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;
using TopicHandle = Handle<rd_kafka_topic_t, rd_kafka_topic_destroy>;
using NewTopicHandle = Handle<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;
using AclBindingHandle = Handle<rd_kafka_AclBinding_t, rd_kafka_AclBinding_destroy>;

}  // namespace

KafkaAdmin::KafkaAdmin(const std::map<std::string, std::string>& properties) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::map<std::string, std::string> all = properties;
  all["allow.auto.create.topics"] = "false";
  all["log_level"] = "3";
  for (const auto& [key, value] : all) {
    char error[512];
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("kafka admin config " + key + ": " + error);
    }
  }
  char error[512];
  client_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error));
  if (!client_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka admin client: ") + error);
  }
}

void KafkaAdmin::CreateTopic(const std::string& name, int partitions,
                             const std::map<std::string, std::string>& configs) {
  char error[512];
  NewTopicHandle topic(rd_kafka_NewTopic_new(name.c_str(), partitions, 1, error, sizeof error));
  if (!topic) throw std::runtime_error("NewTopic " + name + ": " + error);
  for (const auto& [key, value] : configs) {
    if (rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("NewTopic " + name + ": config " + key);
    }
  }
  QueueHandle queue(rd_kafka_queue_new(client_.get()));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(client_.get(), topics, 1, nullptr, queue.get());
  EventHandle event(rd_kafka_queue_poll(queue.get(), kAdminTimeoutMs));
  if (!event) throw std::runtime_error("CreateTopics " + name + ": no answer");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("CreateTopics " + name + ": " + rd_kafka_event_error_string(event.get()));
  }
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("CreateTopics " + name + ": " + rd_kafka_topic_result_error_string(results[i]));
    }
  }
  // The broker serves the topic once its metadata caught up with the controller.
  if (!WaitForTopic(name, RD_KAFKA_RESP_ERR_NO_ERROR, 30s)) {
    throw std::runtime_error("topic " + name + " not served within 30 s of its creation");
  }
}

void KafkaAdmin::Allow(const std::string& principal, rd_kafka_AclOperation_t operation, const std::string& topic) {
  char error[512];
  AclBindingHandle acl(rd_kafka_AclBinding_new(
      RD_KAFKA_RESOURCE_TOPIC, topic.c_str(), RD_KAFKA_RESOURCE_PATTERN_LITERAL, principal.c_str(), "*", operation,
      RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, error, sizeof error));
  if (!acl) throw std::runtime_error(std::string("AclBinding: ") + error);
  QueueHandle queue(rd_kafka_queue_new(client_.get()));
  rd_kafka_AclBinding_t* acls[] = {acl.get()};
  rd_kafka_CreateAcls(client_.get(), acls, 1, nullptr, queue.get());
  EventHandle event(rd_kafka_queue_poll(queue.get(), kAdminTimeoutMs));
  if (!event) throw std::runtime_error("CreateAcls on " + topic + ": no answer");
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("CreateAcls on " + topic + ": " + rd_kafka_event_error_string(event.get()));
  }
  std::size_t count = 0;
  const rd_kafka_acl_result_t** results =
      rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(event.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    if (const rd_kafka_error_t* acl_error = rd_kafka_acl_result_error(results[i])) {
      throw std::runtime_error("CreateAcls on " + topic + ": " + rd_kafka_error_string(acl_error));
    }
  }
}

rd_kafka_resp_err_t KafkaAdmin::TopicError(const std::string& name) {
  TopicHandle topic(rd_kafka_topic_new(client_.get(), name.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  const auto code = rd_kafka_metadata(client_.get(), 0, topic.get(), &raw, 5000);
  MetadataHandle metadata(raw);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) return code;
  if (metadata->topic_cnt != 1) return RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
  if (metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topics[0].partition_cnt == 0) {
    return RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
  }
  return metadata->topics[0].err;
}

bool KafkaAdmin::WaitForTopic(const std::string& name, rd_kafka_resp_err_t expected,
                              std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (TopicError(name) == expected) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

std::set<std::string> KafkaAdmin::Topics() {
  const rd_kafka_metadata_t* raw = nullptr;
  const auto code = rd_kafka_metadata(client_.get(), 1, nullptr, &raw, kAdminTimeoutMs);
  MetadataHandle metadata(raw);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
    throw std::runtime_error(std::string("metadata: ") + rd_kafka_err2str(code));
  std::set<std::string> topics;
  for (int i = 0; i < metadata->topic_cnt; ++i) topics.insert(metadata->topics[i].topic);
  return topics;
}

std::map<int, std::int64_t> KafkaAdmin::EndOffsets(const std::string& topic, int partitions) {
  std::map<int, std::int64_t> ends;
  for (int partition = 0; partition < partitions; ++partition) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto code =
        rd_kafka_query_watermark_offsets(client_.get(), topic.c_str(), partition, &low, &high, kAdminTimeoutMs);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("watermarks of " + topic + ": " + rd_kafka_err2str(code));
    }
    ends[partition] = high;
  }
  return ends;
}

void KafkaAdmin::Produce(const std::string& topic, const std::vector<Record>& records) {
  for (const Record& record : records) {
    rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& [name, value] : record.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
    const auto bytes = [](const std::optional<std::string>& text) {
      return text ? const_cast<char*>(text->data()) : nullptr;
    };
    const auto size = [](const std::optional<std::string>& text) { return text ? text->size() : 0; };
    const auto code =
        rd_kafka_producev(client_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(record.partition),
                          RD_KAFKA_V_KEY(bytes(record.key), size(record.key)),
                          RD_KAFKA_V_VALUE(bytes(record.value), size(record.value)), RD_KAFKA_V_HEADERS(headers),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_headers_destroy(headers);  // the message owns them only once queued
      throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(code));
    }
  }
  if (rd_kafka_flush(client_.get(), kAdminTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("produce to " + topic + ": not acknowledged within 30 s");
  }
}

void KafkaAdmin::ProduceOneEach(const std::string& topic, int partitions) {
  std::vector<Record> records;
  for (int partition = 0; partition < partitions; ++partition) {
    records.push_back({partition, std::nullopt, "before check " + std::to_string(partition), {}});
  }
  Produce(topic, records);
}

}  // namespace outbox_relay::it
