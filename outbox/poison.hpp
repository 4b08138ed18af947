#pragma once

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "outbox/event_encoder.hpp"

namespace outbox_relay::outbox {

/// Why a row cannot be published as configured. Each has a stable code (ReasonCode) that the
/// dead-letter header, the metric label and the log line carry.
enum class PoisonReason {
  kInvalidJson,     // payload is not JSON, but the route's format embeds it as JSON
  kInvalidHeaders,  // the headers column is not a JSON object
  kInvalidMessage,  // a logical message's content is not a JSON object
  kMissingKey,      // the aggregate id, or the column a rule keys by, is NULL or empty
  kMissingField,    // id, aggregate type or type is NULL or empty
  kMissingColumn,   // the table (or message) lacks a column the configuration needs
  kInvalidTopic,    // the rendered topic is not a legal Kafka topic name
  kRecordTooLarge,  // Kafka refused the record as too large (producer or broker limit)
  kUnroutable,      // RabbitMQ returned the message: no queue is bound for its exchange and key
};

/// Every reason, so counters can be exported at 0 from start-up.
inline constexpr std::array<PoisonReason, 9> kPoisonReasons = {
    PoisonReason::kInvalidJson,  PoisonReason::kInvalidHeaders, PoisonReason::kInvalidMessage,
    PoisonReason::kMissingKey,   PoisonReason::kMissingField,   PoisonReason::kMissingColumn,
    PoisonReason::kInvalidTopic, PoisonReason::kRecordTooLarge, PoisonReason::kUnroutable};

/// The reason's code: "invalid_json", "missing_key", ...
std::string_view ReasonCode(PoisonReason reason);

/// The reason a code names; nullopt for anything else.
std::optional<PoisonReason> ReasonFromCode(std::string_view code);

/// What is known of a row that cannot be published: enough to name it in a log line and to
/// write it to a dead-letter topic.
struct PoisonRow {
  PoisonReason reason = PoisonReason::kMissingField;
  std::string detail;      // what is wrong, naming the column
  std::string source;      // "table:<schema>.<table>" or "message:<prefix>"
  std::string id;          // the row's id; empty when NULL or missing
  std::string commit_lsn;  // the source transaction's commit LSN ("X/Y")
  std::string topic;       // where it was routed (even if illegal); empty if routing failed first
  std::optional<std::string> key;    // the Kafka key, when routing got that far
  std::optional<std::string> value;  // the payload as stored, or the refused record's value
  std::vector<std::pair<std::string, std::string>> headers;  // the refused record's, if one was built

  /// One line for logs: "table outbox.outbox, id 7, commit LSN 0/16B3748, reason
  /// missing_key: aggregate id is NULL or empty".
  std::string Describe() const;
};

/// A row that cannot become an event. what() is row().Describe().
class PoisonRowError : public std::runtime_error {
 public:
  explicit PoisonRowError(PoisonRow row);
  const PoisonRow& row() const { return row_; }

 private:
  PoisonRow row_;
};

/// Names of the headers a dead-letter record adds, after the refused record's own headers
/// (in this order). Modelled on Kafka Connect's __connect.errors.* context headers.
inline constexpr std::string_view kDeadLetterReasonHeader = "__outbox_relay.errors.reason";
inline constexpr std::string_view kDeadLetterMessageHeader = "__outbox_relay.errors.message";
inline constexpr std::string_view kDeadLetterSourceHeader = "__outbox_relay.errors.source";
inline constexpr std::string_view kDeadLetterIdHeader = "__outbox_relay.errors.id";
inline constexpr std::string_view kDeadLetterCommitLsnHeader = "__outbox_relay.errors.commit_lsn";
inline constexpr std::string_view kDeadLetterTopicHeader = "__outbox_relay.errors.topic";

/// Lays `poison` out as a dead-letter record: value = poison.value, headers = poison.headers
/// then the error headers above; the key is poison.key. `record` refers to `poison` afterwards.
/// Pure.
void EncodeDeadLetter(const PoisonRow& poison, EncodedEvent& record);

}  // namespace outbox_relay::outbox
