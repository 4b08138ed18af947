#include "sinks/amqp_message.hpp"

#include <charconv>
#include <chrono>
#include <cstddef>
#include <string_view>

#include "outbox/event_encoder.hpp"

namespace outbox_relay::sinks {
namespace {

constexpr std::string_view kContentTypeHeader = "content-type";
constexpr std::string_view kKafkaCloudEventsPrefix = "ce_";
// The CloudEvents AMQP binding's application-property prefix (1.0.2; "cloudEvents:" before).
constexpr std::string_view kAmqpCloudEventsPrefix = "cloudEvents_";
constexpr std::string_view kJsonContentType = "application/json";

// The record's headers as AMQP headers and properties: content-type is a property in AMQP.
void TakeRecord(const outbox::EncodedEvent& record, AmqpMessage& message) {
  if (record.value) message.body.emplace(*record.value);
  for (const auto& [name, value] : record.headers) {
    if (name == kContentTypeHeader) {
      message.content_type = value;
    } else if (name.starts_with(kKafkaCloudEventsPrefix)) {
      message.headers.emplace_back(std::string(kAmqpCloudEventsPrefix) + std::string(name.substr(3)), value);
    } else {
      message.headers.emplace_back(name, value);
    }
  }
}

}  // namespace

AmqpMessage MessageOfEvent(const outbox::OutboxEvent& event, const AmqpRouting& routing, std::uint64_t tag) {
  outbox::EncodedEvent record;
  outbox::EncodeEvent(event, record);
  AmqpMessage message;
  if (routing.stream.empty()) {
    message.exchange = event.exchange;
    message.routing_key = event.topic;
  } else {
    message.routing_key = routing.stream;  // the default exchange routes by queue name
  }
  TakeRecord(record, message);
  if (message.content_type.empty() && message.body) message.content_type = kJsonContentType;
  message.headers.emplace_back("key", event.key);
  message.message_id = event.id;
  message.type = event.type;
  message.timestamp = EpochSeconds(event.time);
  if (!routing.correlation_id_header.empty()) {
    for (const auto& [name, value] : event.headers) {
      if (name == routing.correlation_id_header) message.correlation_id = value;
    }
  }
  message.tag = tag;
  message.bytes = event.key.size() + (message.body ? message.body->size() : 0);
  message.source = event.source;
  message.commit_lsn = event.commit_lsn;
  message.key = event.key;
  return message;
}

AmqpMessage MessageOfPoison(const outbox::PoisonRow& poison, const std::string& routing_key,
                            const AmqpRouting& routing, std::uint64_t tag) {
  outbox::EncodedEvent record;
  outbox::EncodeDeadLetter(poison, record);
  AmqpMessage message;
  message.exchange = routing.dead_letter_exchange;
  message.routing_key = routing_key;
  TakeRecord(record, message);
  if (poison.key) message.headers.emplace_back("key", *poison.key);
  message.message_id = poison.id;
  message.tag = tag;
  message.bytes = (poison.key ? poison.key->size() : 0) + (message.body ? message.body->size() : 0);
  message.dead_letter = poison.reason;
  message.source = poison.source;
  message.commit_lsn = poison.commit_lsn;
  message.key = poison.key.value_or("");
  return message;
}

outbox::PoisonRow UnroutableRow(const AmqpMessage& message, const std::string& reply) {
  outbox::PoisonRow row;
  row.reason = outbox::PoisonReason::kUnroutable;
  row.detail = "RabbitMQ returned the message (" + reply + "): no queue is bound to exchange \"" +
               message.exchange + "\" for routing key \"" + message.routing_key + "\"";
  row.source = message.source;
  row.id = message.message_id;
  row.commit_lsn = message.commit_lsn;
  row.topic = message.routing_key;
  row.key = message.key;
  row.value = message.body;
  row.headers = message.headers;
  return row;
}

std::optional<std::uint64_t> EpochSeconds(const std::string& rfc3339) {
  // "YYYY-MM-DDTHH:MM:SS", then fractional seconds or not, then Z.
  constexpr std::string_view kShape = "0000-00-00T00:00:00";
  if (rfc3339.size() < kShape.size() + 1 || rfc3339.back() != 'Z') return std::nullopt;
  for (std::size_t i = 0; i < kShape.size(); ++i) {
    const bool digit = rfc3339[i] >= '0' && rfc3339[i] <= '9';
    if (kShape[i] == '0' ? !digit : rfc3339[i] != kShape[i]) return std::nullopt;
  }
  const auto field = [&rfc3339](std::size_t at, std::size_t length) {
    int value = 0;
    std::from_chars(rfc3339.data() + at, rfc3339.data() + at + length, value);
    return value;
  };
  const std::chrono::year_month_day date{std::chrono::year(field(0, 4)),
                                         std::chrono::month(static_cast<unsigned>(field(5, 2))),
                                         std::chrono::day(static_cast<unsigned>(field(8, 2)))};
  const int hour = field(11, 2);
  const int minute = field(14, 2);
  const int second = field(17, 2);
  if (!date.ok() || date.year() < std::chrono::year(1970) || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const auto time = std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
                    std::chrono::seconds(second);
  return static_cast<std::uint64_t>(time.time_since_epoch().count());
}

}  // namespace outbox_relay::sinks
