// librdkafka's delivery report of one record, as the DeliveryReport the relay handles.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "outbox/poison.hpp"
#include "sinks/kafka_detail.hpp"

namespace outbox_relay::sinks::detail {

namespace {

// The first header called `name`, where the relay's own come before a row's.
std::string FirstHeader(rd_kafka_headers_t* headers, std::string_view name) {
  const void* value = nullptr;
  std::size_t size = 0;
  if (headers == nullptr ||
      rd_kafka_header_get(headers, 0, std::string(name).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return std::string(static_cast<const char*>(value), size);
}

// What a record Kafka refused as too large held, rebuilt from the record itself.
outbox::PoisonRow RefusedRecord(const rd_kafka_message_t& message, rd_kafka_headers_t* headers) {
  const std::string topic = rd_kafka_topic_name(message.rkt);
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kRecordTooLarge;
  poison.detail = "Kafka refused the " + std::to_string(message.key_len + message.len) +
                  "-byte record for topic " + topic + " (" + rd_kafka_err2str(message.err) +
                  "); the topic's max.message.bytes is below it";
  poison.source = FirstHeader(headers, "source");
  poison.id = FirstHeader(headers, "id");
  poison.commit_lsn = FirstHeader(headers, "commit_lsn");
  poison.topic = topic;
  if (message.key != nullptr) poison.key.emplace(static_cast<const char*>(message.key), message.key_len);
  if (message.payload != nullptr) poison.value.emplace(static_cast<const char*>(message.payload), message.len);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; headers != nullptr &&
                          rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    poison.headers.emplace_back(
        name, value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size));
  }
  return poison;
}

DeliveryOutcome Outcome(const rd_kafka_message_t& message, bool dead_letter, rd_kafka_headers_t* headers) {
  const char* topic = rd_kafka_topic_name(message.rkt);
  const auto error = [&] { return std::string(topic) + ": " + rd_kafka_err2str(message.err); };
  switch (ClassifyKafkaError(message.err)) {
    case KafkaErrorCategory::kNoError:
      return Delivered{topic};
    case KafkaErrorCategory::kPurged:
      return Withdrawn{error()};
    // The producer stopped waiting rather than a broker refusing: the record may or may not be
    // in Kafka, and may get in on a later attempt.
    case KafkaErrorCategory::kTimedOut:
    case KafkaErrorCategory::kFatal:
      return GaveUp{error()};
    case KafkaErrorCategory::kTooLarge:
      // A dead-letter record is not dead-lettered in turn (sink.hpp, RefusedAsPoison).
      if (!dead_letter) return RefusedAsPoison{error(), RefusedRecord(message, headers)};
      break;
    // A broker refused the record after the producer's retries; it would refuse it again.
    case KafkaErrorCategory::kFenced:
    case KafkaErrorCategory::kAllBrokersDown:
    case KafkaErrorCategory::kAuthentication:
    case KafkaErrorCategory::kTls:
    case KafkaErrorCategory::kNotAuthorized:
    case KafkaErrorCategory::kUnknownTopic:
    case KafkaErrorCategory::kAcksRefused:
    case KafkaErrorCategory::kAlreadyExists:
    case KafkaErrorCategory::kPartitionEnd:
    case KafkaErrorCategory::kInvalidState:
    case KafkaErrorCategory::kOther:
      break;
  }
  return Refused{error()};
}

}  // namespace

DeliveryReport TranslateDeliveryReport(const rd_kafka_message_t& message) {
  const auto opaque = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(message._private));
  DeliveryReport report;
  report.tag = opaque & ~kDeadLetterTagBit;
  report.bytes = message.key_len + message.len;
  rd_kafka_headers_t* headers = nullptr;
  // Only the rare reports that need them read the headers back.
  const bool dead_letter = (opaque & kDeadLetterTagBit) != 0;
  const bool too_large = ClassifyKafkaError(message.err) == KafkaErrorCategory::kTooLarge;
  if (dead_letter || too_large) rd_kafka_message_headers(&message, &headers);
  if (dead_letter) {
    report.dead_letter = outbox::ReasonFromCode(FirstHeader(headers, outbox::kDeadLetterReasonHeader));
  }
  report.outcome = Outcome(message, dead_letter, headers);
  return report;
}

}  // namespace outbox_relay::sinks::detail
