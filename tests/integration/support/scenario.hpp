#pragma once

// Names and config shared by the Kafka tests: slot, oracle slot, topic template, topics and the
// exactly-once checkpoint topic.

#include <string>
#include <vector>

#include "support/oracle.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {

enum class Delivery { kAtLeastOnce, kExactlyOnce };

inline const char* DeliveryName(Delivery delivery) {
  return delivery == Delivery::kExactlyOnce ? "exactly-once" : "at-least-once";
}

struct KafkaScenario {
  std::string slot;
  std::string oracle_slot;
  std::string topic_template;
  std::vector<std::string> topics;
  std::string checkpoint_topic;  // of this test only, so runs never read each other's
  std::string config_path;

  static KafkaScenario Make(const std::string& suffix, const WorkloadOptions& options) {
    KafkaScenario scenario;
    scenario.slot = "it_relay_" + suffix;
    scenario.oracle_slot = "it_oracle_" + suffix;
    scenario.topic_template = "it." + suffix + ".{aggregate_type}";
    for (const auto& type : options.aggregate_types) {
      scenario.topics.push_back(TopicFor(scenario.topic_template, type));
    }
    scenario.checkpoint_topic = "it." + suffix + ".checkpoints";
    return scenario;
  }

  /// Drops the relay's slot and both oracle slots when `db`'s test ends.
  void DropSlotsAtEnd(TestDatabase& db) const {
    db.DropSlotAtEnd(slot);
    db.DropSlotAtEnd(oracle_slot);
    db.DropSlotAtEnd(PgOutputOracleSlot(oracle_slot));
  }

  /// The relay's config; in exactly-once mode with this test's checkpoint topic (RF 1).
  RelayConfigOptions RelayConfig(const TestDatabase& db, const HarnessEnv& harness,
                                 Delivery delivery = Delivery::kAtLeastOnce) const {
    RelayConfigOptions config;
    config.dsn = db.RelayDsn();
    config.slot = slot;
    config.topic = topic_template;
    config.sink = "kafka";
    config.bootstrap_servers = harness.kafka_bootstrap_servers;
    if (delivery == Delivery::kExactlyOnce) {
      config.delivery = DeliveryName(delivery);
      config.more["exactly_once"] = {{"checkpoint_topic", checkpoint_topic},
                                     {"checkpoint_replication_factor", "1"}};
    }
    return config;
  }
};

}  // namespace outbox_relay::it
