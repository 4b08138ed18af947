#pragma once

// Owners of librdkafka handles; nothing else calls a librdkafka destroy function.

#include <librdkafka/rdkafka.h>

#include "base/c_handle.hpp"

namespace outbox_relay::sinks {

using KafkaHandle = base::CHandle<rd_kafka_t, rd_kafka_destroy>;
using KafkaConfHandle = base::CHandle<rd_kafka_conf_t, rd_kafka_conf_destroy>;
using KafkaQueueHandle = base::CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy>;
using KafkaHeadersHandle = base::CHandle<rd_kafka_headers_t, rd_kafka_headers_destroy>;
using KafkaTopicHandle = base::CHandle<rd_kafka_topic_t, rd_kafka_topic_destroy>;
using KafkaMetadataHandle = base::CHandle<const rd_kafka_metadata_t, rd_kafka_metadata_destroy>;
using KafkaEventHandle = base::CHandle<rd_kafka_event_t, rd_kafka_event_destroy>;
using KafkaAdminOptionsHandle = base::CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>;
using KafkaConfigResourceHandle = base::CHandle<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy>;
using KafkaNewTopicHandle = base::CHandle<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>;

}  // namespace outbox_relay::sinks
