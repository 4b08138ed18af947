#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace outbox_relay::outbox {

/// One outbox row (or logical message), routed and ready for a sink.
struct OutboxEvent {
  std::string id;
  std::string aggregate_type;
  std::string aggregate_id;
  std::string type;
  std::optional<std::string> payload;  // JSON text as PostgreSQL prints it; nullopt for SQL NULL
  std::vector<std::pair<std::string, std::string>> headers;  // entries of the row's headers jsonb
  std::string topic;     // Kafka topic; for RabbitMQ the routing key
  std::string exchange;  // RabbitMQ only (empty for the other sinks)
  std::string key;     // the Kafka key: the aggregate id unless a rule picks another column
  std::string source;  // "table:<schema>.<table>" or "message:<prefix>"
  std::string cloudevents_source;  // CloudEvents `source`; used by the CloudEvents formats only
  config::EventFormat format = config::EventFormat::kPayload;
  std::string commit_lsn;  // where the source transaction's commit record starts, "X/Y"; empty on replay
  std::string time;        // RFC 3339 UTC: the commit time (the row's created_at on replay)
  std::string replay;      // non-empty on replayed events: the `replay` header's value
};

}  // namespace outbox_relay::outbox
