// The delivery keys (config/delivery_keys.cpp): sink.type, delivery and exactly_once.*, one bad
// value per row. The rules between them: exactly_once_config_test.cpp; on_poison and
// dead_letter.topic: poison_config_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using namespace outbox_relay::config::test_support;

// Each delivery key's bad value names the key (BadValueTest, key_table_test.cpp).
INSTANTIATE_TEST_SUITE_P(
    DeliveryKeys, BadValueTest,
    ::testing::Values(
        BadValue{"sink:\n  type: file\n", "sink.type", "stdout, kafka, rabbitmq"},
        BadValue{"delivery: exactly_once\n", "delivery", "at-least-once, exactly-once"},
        BadValue{"delivery:\n  mode: exactly-once\n", "delivery", "expected a string"},
        BadValue{"exactly_once:\n  max_batch_events: 0\n", "exactly_once.max_batch_events", "at least 1"},
        BadValue{"exactly_once:\n  max_batch_events: many\n", "exactly_once.max_batch_events", "integer"},
        BadValue{"exactly_once:\n  max_batch_ms: 0\n", "exactly_once.max_batch_ms", "between 1 and 3600000"},
        BadValue{"exactly_once:\n  max_batch_ms: 3600001\n", "exactly_once.max_batch_ms", "between 1 and 3600000"},
        BadValue{"exactly_once:\n  checkpoint_topic: 'relay/checkpoints'\n", "exactly_once.checkpoint_topic",
                 "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_topic: ''\n", "exactly_once.checkpoint_topic",
                 "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_topic: '..'\n", "exactly_once.checkpoint_topic",
                 "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_topic: " + std::string(250, 'c') + "\n",
                 "exactly_once.checkpoint_topic", "not a legal Kafka topic name"},
        BadValue{"exactly_once:\n  checkpoint_replication_factor: -1\n",
                 "exactly_once.checkpoint_replication_factor", "non-negative integer"},
        BadValue{"exactly_once:\n  transactional_id:\n    a: b\n", "exactly_once.transactional_id",
                 "expected a string"},
        BadValue{"exactly_once:\n  transaction_timeout_ms: 999\n", "exactly_once.transaction_timeout_ms",
                 "between 1000 and 3600000"},
        BadValue{"exactly_once:\n  transaction_timeout_ms: soon\n", "exactly_once.transaction_timeout_ms",
                 "integer"}));

}  // namespace
}  // namespace outbox_relay::config
