#pragma once

// Owners of librdkafka handles; nothing else calls a librdkafka destroy function.

#include <memory>

#include <librdkafka/rdkafka.h>

namespace outbox_relay::sinks {

template <auto Destroy>
struct KafkaDeleter {
  template <typename T>
  void operator()(T* handle) const {
    Destroy(handle);
  }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter<rd_kafka_destroy>>;
using KafkaConfHandle = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter<rd_kafka_conf_destroy>>;
using KafkaQueueHandle = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter<rd_kafka_queue_destroy>>;
using KafkaHeadersHandle =
    std::unique_ptr<rd_kafka_headers_t, KafkaDeleter<rd_kafka_headers_destroy>>;

}  // namespace outbox_relay::sinks
