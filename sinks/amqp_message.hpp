#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"

namespace outbox_relay::sinks {

/// Where the RabbitMQ sink publishes and which outbox header becomes the correlation id.
struct AmqpRouting {
  std::string dead_letter_exchange;   // rabbitmq.dead_letter_exchange
  std::string stream;                 // rabbitmq.stream: every event to this queue, if set
  std::string correlation_id_header;  // rabbitmq.correlation_id_header
};

/// One event (or dead-letter record) as an AMQP 0-9-1 message: the record outbox::EncodeEvent
/// lays out, with the Kafka binding's metadata moved to basic properties. Owns its text, so it
/// can wait for a connection. Pure data; built without I/O.
struct AmqpMessage {
  std::string exchange;
  std::string routing_key;
  std::optional<std::string> body;  // nullopt: a null value (sent as an empty body)
  std::string content_type;         // empty: not set
  std::string message_id;           // the event id: what consumers deduplicate by
  std::string type;
  std::string correlation_id;               // empty: not set
  std::optional<std::uint64_t> timestamp;   // seconds since the epoch: the commit time
  std::vector<std::pair<std::string, std::string>> headers;  // the AMQP headers table, in order

  // What a report or a returned message needs to know of the event.
  std::uint64_t tag = 0;
  std::size_t bytes = 0;  // key plus body size, as Sink::Publish returns it
  std::optional<outbox::PoisonReason> dead_letter;
  std::string source;
  std::string commit_lsn;
  std::string key;
};

/// The message of `event`: exchange event.exchange and routing key event.topic (the stream,
/// through the default exchange, when routing.stream is set); message_id = event id, type,
/// timestamp, content_type (the format's, else application/json for a JSON body),
/// correlation_id from the header routing names; headers = the format's record headers with
/// the CloudEvents AMQP binding's `cloudEvents_` prefix for `ce_*`, plus `key` (the message
/// key, for a consistent-hash exchange). Persistence and mandatory are the sink's.
AmqpMessage MessageOfEvent(const outbox::OutboxEvent& event, const AmqpRouting& routing, std::uint64_t tag);

/// The dead-letter message of `poison`: routing key `routing_key` on the dead-letter exchange,
/// outbox::EncodeDeadLetter's headers (the __outbox_relay.errors.* reason headers).
AmqpMessage MessageOfPoison(const outbox::PoisonRow& poison, const std::string& routing_key,
                            const AmqpRouting& routing, std::uint64_t tag);

/// The poison row of a message the broker returned as unroutable (`reply` is its reply text).
outbox::PoisonRow UnroutableRow(const AmqpMessage& message, const std::string& reply);

/// Seconds since the epoch of an RFC 3339 UTC time "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"; nullopt
/// for anything else.
std::optional<std::uint64_t> EpochSeconds(const std::string& rfc3339);

}  // namespace outbox_relay::sinks
