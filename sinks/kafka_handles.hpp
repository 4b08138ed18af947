#pragma once

// Owners of librdkafka handles; nothing else calls a librdkafka destroy function.

#include <librdkafka/rdkafka.h>

#include "config/c_handle.hpp"

namespace outbox_relay::sinks {

using KafkaHandle = config::CHandle<rd_kafka_t, rd_kafka_destroy>;
using KafkaConfHandle = config::CHandle<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using KafkaQueueHandle = config::CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using KafkaHeadersHandle = config::CHandle<rd_kafka_headers_t, rd_kafka_headers_destroy>;

}  // namespace outbox_relay::sinks
