#pragma once

// Names and config shared by the Kafka tests: slot, oracle slot, topic template and topics.

#include <string>
#include <vector>

#include "support/oracle.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {

struct KafkaScenario {
  std::string slot;
  std::string oracle_slot;
  std::string topic_template;
  std::vector<std::string> topics;
  std::string config_path;

  static KafkaScenario Make(const std::string& suffix, const WorkloadOptions& options) {
    KafkaScenario scenario;
    scenario.slot = "it_relay_" + suffix;
    scenario.oracle_slot = "it_oracle_" + suffix;
    scenario.topic_template = "it." + suffix + ".{aggregate_type}";
    for (const auto& type : options.aggregate_types) {
      scenario.topics.push_back(TopicFor(scenario.topic_template, type));
    }
    return scenario;
  }

  RelayConfigOptions RelayConfig(const TestDatabase& db, const HarnessEnv& harness) const {
    RelayConfigOptions config;
    config.dsn = db.RelayDsn();
    config.slot = slot;
    config.topic = topic_template;
    config.sink = "kafka";
    config.bootstrap_servers = harness.kafka_bootstrap_servers;
    return config;
  }
};

}  // namespace outbox_relay::it
