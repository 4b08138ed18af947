#include "outbox/poison.hpp"

namespace outbox_relay::outbox {

std::string_view ReasonCode(PoisonReason reason) {
  switch (reason) {
    case PoisonReason::kInvalidJson:
      return "invalid_json";
    case PoisonReason::kInvalidHeaders:
      return "invalid_headers";
    case PoisonReason::kInvalidMessage:
      return "invalid_message";
    case PoisonReason::kMissingKey:
      return "missing_key";
    case PoisonReason::kMissingField:
      return "missing_field";
    case PoisonReason::kMissingColumn:
      return "missing_column";
    case PoisonReason::kInvalidTopic:
      return "invalid_topic";
    case PoisonReason::kRecordTooLarge:
      return "record_too_large";
    case PoisonReason::kUnroutable:
      return "unroutable";
  }
  return "unknown";
}

std::optional<PoisonReason> ReasonFromCode(std::string_view code) {
  for (const PoisonReason reason : kPoisonReasons) {
    if (ReasonCode(reason) == code) return reason;
  }
  return std::nullopt;
}

std::string PoisonRow::Describe() const {
  constexpr std::string_view kTablePrefix = "table:";
  const std::string where = source.starts_with(kTablePrefix) ? "table " + source.substr(kTablePrefix.size())
                                                             : source;  // "message:<prefix>" says what it is
  return where + ", id " + (id.empty() ? "NULL" : id) + ", commit LSN " + commit_lsn + ", reason " +
         std::string(ReasonCode(reason)) + ": " + detail;
}

PoisonRowError::PoisonRowError(PoisonRow row)
    : std::runtime_error("poison row: " + row.Describe()), row_(std::move(row)) {}

void EncodeDeadLetter(const PoisonRow& poison, EncodedEvent& record) {
  if (poison.value) {
    record.value = *poison.value;
  } else {
    record.value = std::nullopt;
  }
  auto& headers = record.headers;
  headers.clear();
  for (const auto& [name, value] : poison.headers) headers.emplace_back(name, value);
  headers.emplace_back(kDeadLetterReasonHeader, ReasonCode(poison.reason));
  headers.emplace_back(kDeadLetterMessageHeader, poison.detail);
  headers.emplace_back(kDeadLetterSourceHeader, poison.source);
  headers.emplace_back(kDeadLetterIdHeader, poison.id);
  headers.emplace_back(kDeadLetterCommitLsnHeader, poison.commit_lsn);
  headers.emplace_back(kDeadLetterTopicHeader, poison.topic);
}

}  // namespace outbox_relay::outbox
