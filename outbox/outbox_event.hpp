#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace outbox_relay::outbox {

/// One outbox row (or logical message) ready for a sink.
struct OutboxEvent {
  std::string id;
  std::string aggregate_type;
  std::string aggregate_id;  // the message key: one aggregate, one partition
  std::string type;
  std::optional<std::string> payload;  // JSON text as PostgreSQL prints it; nullopt for SQL NULL
  std::vector<std::pair<std::string, std::string>> headers;  // entries of the row's headers jsonb
  std::string topic;
  std::string commit_lsn;  // where the source transaction's commit record starts, "X/Y" (pgoutput's commit LSN)
};

/// What an event weighs against the in-flight byte cap: key plus value, as a sink reports it back.
inline std::size_t EventSize(const OutboxEvent& event) {
  return event.aggregate_id.size() + (event.payload ? event.payload->size() : 0);
}

}  // namespace outbox_relay::outbox
