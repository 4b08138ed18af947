// The kafka.* properties the relay's delivery contract depends on: bootstrap servers for the
// Kafka sink, idempotence and acks never weakened, the transactional settings owned by
// exactly_once.*, and librdkafka's queue above the relay's own in-flight cap. The rest pass
// through to librdkafka unchecked.

#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "config/config_detail.hpp"

namespace outbox_relay::config::detail {
namespace {

// librdkafka's own reading of a boolean property as true.
bool IsKafkaTrue(const std::string& value) {
  const std::string lowered = Lower(value);
  return lowered == "true" || lowered == "t" || lowered == "1";
}

}  // namespace

void CheckKafka(const Config& config, const RawValues& raw) {
  const auto origin = [&raw](const std::string& key) {
    const auto it = raw.find(key);
    return it == raw.end() ? key : it->second.origin;
  };
  const auto find = [&config](const std::string& key) -> const std::string* {
    const auto it = config.kafka.find(key);
    return it == config.kafka.end() ? nullptr : &it->second;
  };

  if (config.sink.type == SinkType::kKafka) {
    const std::string* servers = find("bootstrap.servers");
    const std::string* alias = find("metadata.broker.list");  // librdkafka's older name
    const bool has_servers = (servers != nullptr && !servers->empty()) ||
                             (alias != nullptr && !alias->empty());
    if (!has_servers) {
      throw ConfigError(origin("kafka.bootstrap.servers"),
                        "is required when sink.type is kafka (comma-separated host:port list)");
    }
  }

  if (const std::string* value = find("enable.idempotence"); value && !IsKafkaTrue(*value)) {
    throw ConfigError(origin("kafka.enable.idempotence"),
                      "must not be turned off (got " + Shown("kafka.enable.idempotence", *value) +
                          "): the relay's delivery contract needs the idempotent producer, so "
                          "that retries can neither duplicate nor reorder events; leave it unset "
                          "or set it to true");
  }

  for (const std::string key : {"acks", "request.required.acks"}) {
    const std::string* value = find(key);
    if (value == nullptr) continue;
    if (Lower(*value) != "all" && *value != "-1") {
      throw ConfigError(origin("kafka." + key),
                        "must be all or -1 (got " + Shown("kafka." + key, *value) +
                            "): the relay's delivery contract needs every in-sync replica to "
                            "have an event before its position is confirmed to PostgreSQL");
    }
  }

  // One place owns each of these in exactly-once mode, so a second spelling cannot disagree.
  for (const std::string key : {"transactional.id", "transaction.timeout.ms"}) {
    if (find(key) != nullptr) {
      throw ConfigError(origin("kafka." + key),
                        "is set by the relay; use exactly_once.transactional_id / "
                        "exactly_once.transaction_timeout_ms and delivery: exactly-once");
    }
  }
  if (const std::string* value = find("message.timeout.ms");
      value && config.delivery == DeliveryMode::kExactlyOnce) {
    const std::string key = "kafka.message.timeout.ms";
    if (ParseUnsigned(key, *value, origin(key)) >=
        static_cast<std::uint64_t>(config.exactly_once.transaction_timeout.count())) {
      throw ConfigError(origin(key),
                        "must be below exactly_once.transaction_timeout_ms: a message that "
                        "times out after its transaction did leaves the outcome ambiguous");
    }
  }

  if (const std::string* value = find("queue.buffering.max.messages")) {
    const std::string key = "kafka.queue.buffering.max.messages";
    const std::uint64_t limit = ParseUnsigned(key, *value, origin(key));
    if (limit <= config.flow.max_in_flight_events) {
      throw ConfigError(origin(key),
                        "must be greater than flow.max_in_flight_events (" +
                            std::to_string(config.flow.max_in_flight_events) + "), got " +
                            std::to_string(limit) +
                            ": the relay's own in-flight cap has to be what pauses reading from "
                            "PostgreSQL, before librdkafka's queue fills up and rejects events");
    }
  }
}

}  // namespace outbox_relay::config::detail
