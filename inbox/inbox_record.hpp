#pragma once

// The pure half of `outbox-relay inbox`: a Kafka record as the inbox sees it, what it carries
// in each event format, which handler applies it, and the JSON batch inbox.apply_batch() reads.
// No I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace outbox_relay::inbox {

/// A consumed record, as librdkafka gave it: kept whole for the dead-letter topic.
struct KafkaRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;  // none: a tombstone
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What a handler receives of a record: handler(id, type, key, headers, payload).
struct InboxEvent {
  std::string id;
  std::string type;
  std::optional<std::string> key;
  nlohmann::json headers = nlohmann::json::object();  // name -> value (the last of a repeated name)
  nlohmann::json payload;                              // null for a tombstone
};

/// Why a record cannot be applied: the `reason` header of its dead letter, and what a log line says.
struct Undecodable {
  std::string reason;  // missing_id, invalid_payload
  std::string detail;
};

/// The event a record of `format` carries (the relay's layouts: README, "Record layout"), or
/// why there is none. The payload must be JSON (the outbox's payload column is jsonb).
std::variant<InboxEvent, Undecodable> DecodeRecord(config::EventFormat format, const KafkaRecord& record);

/// The function of the first rule of `handlers` whose topic is `topic` and whose type is empty
/// or `type`; nullptr when none matches.
const std::string* HandlerFor(const std::vector<config::InboxHandlerConfig>& handlers, const std::string& topic,
                              const std::string& type);

/// The id an inbox records for a record it cannot decode, so that its position moves and a
/// second read of it is a duplicate: "kafka:<topic>/<partition>/<offset>".
std::string PositionalId(const KafkaRecord& record);

/// One element of inbox.apply_batch()'s array; `handler` none: record the id and position only.
nlohmann::json BatchElement(const KafkaRecord& record, const InboxEvent& event, const std::string* handler);

}  // namespace outbox_relay::inbox
