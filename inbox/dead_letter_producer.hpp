#pragma once

// The inbox's dead-letter topic: an idempotent producer that writes a poison record there, as
// it was consumed plus reason headers, and waits for Kafka's acknowledgement before the inbox
// records the event as done.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "base/error.hpp"
#include "config/config.hpp"
#include "inbox/inbox_record.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::inbox {

/// Why a record is a dead letter: the __outbox_relay.errors.* headers.
struct PoisonCause {
  std::string reason;   // handler_error, missing_id, invalid_payload
  std::string message;  // the handler's error or the decoding problem
  std::string handler;  // the function, when one ran
};

class DeadLetterProducer {
 public:
  /// Throws std::runtime_error for a kafka.* property librdkafka refuses.
  explicit DeadLetterProducer(const config::Config& config);

  /// Writes `record` with `cause` to inbox.dead_letter_topic; an error (retryable) when Kafka
  /// did not acknowledge it within `timeout`.
  base::Result<void> Write(const KafkaRecord& record, const PoisonCause& cause, std::chrono::milliseconds timeout);

 private:
  std::string topic_;
  std::atomic<std::uint64_t> acknowledged_{0};  // the highest sequence number Kafka acknowledged
  std::uint64_t sent_ = 0;
  sinks::KafkaHandle producer_;
};

}  // namespace outbox_relay::inbox
