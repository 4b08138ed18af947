#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it
#include <variant>

#include <boost/asio/awaitable.hpp>

#include "base/overloaded.hpp"
#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"

namespace outbox_relay::sinks {

/// The record is in Kafka (for the stdout sink: written).
struct Delivered {
  std::string_view topic;  // valid while the handler runs
};
/// Kafka refused the record after the producer's own retries; it would refuse it again.
struct Refused {
  std::string error;
};
/// The broker refused the record for something in the record itself: Kafka as too large (a
/// topic's max.message.bytes), RabbitMQ as unroutable (a mandatory message returned). `row` is
/// what it held, as a poison row of that reason, so the caller can dead-letter it. Never the
/// report of a dead-letter record: that one is Refused.
struct RefusedAsPoison {
  std::string error;
  outbox::PoisonRow row;
};
/// The producer gave up waiting for the record (it timed out, or the producer failed). It may or
/// may not be in Kafka; sent again later, it may get in. After such a report no later record
/// gets in before it is sent again: the sink withdraws them too.
struct GaveUp {
  std::string error;
};
/// The record was withdrawn unsent: by an aborted Kafka transaction, or by the sink after a
/// record it gave up on.
struct Withdrawn {
  std::string error;
};
using DeliveryOutcome = std::variant<Delivered, Refused, RefusedAsPoison, GaveUp, Withdrawn>;

/// The outcome of one published event or dead-letter record.
struct DeliveryReport {
  std::uint64_t tag = 0;  // what the caller passed to Publish
  std::size_t bytes = 0;  // the record's key plus value size, as Publish returned it
  // The report of a PublishDeadLetter record: the reason it carries.
  std::optional<outbox::PoisonReason> dead_letter;
  DeliveryOutcome outcome;

  bool delivered() const { return std::holds_alternative<Delivered>(outcome); }
  /// Why the record is not delivered, for logs; empty when it is.
  std::string_view error() const {
    return std::visit(base::Overloaded{[](const Delivered&) { return std::string_view(); },
                                       [](const auto& failure) { return std::string_view(failure.error); }},
                      outcome);
  }
};

/// A sink refused an event or failed. `retryable()`: a later attempt may succeed (the broker
/// is unreachable now); otherwise the relay must stop.
class SinkError : public std::runtime_error {
 public:
  explicit SinkError(const std::string& message, bool retryable = false)
      : std::runtime_error(message), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
};

/// This sink object can deliver nothing more, but a new one may: librdkafka's fatal producer
/// errors (fenced, which also follows a transaction the broker aborted on its timeout), or a
/// transaction whose outcome stays unknown. Events not yet acknowledged are to be re-sent through
/// a new sink.
class SinkBrokenError : public SinkError {
 public:
  explicit SinkBrokenError(const std::string& message) : SinkError(message, false) {}
};

/// Publish refused the event at once because its record is over the producer's size limit
/// (kafka.message.max.bytes for the Kafka sink). A poison record, not a sink failure.
class RecordTooLargeError : public SinkError {
 public:
  using SinkError::SinkError;
};

/// Where events go. All methods are called on the relay's io_context thread, and delivery
/// reports are delivered on that thread too, never from inside Publish.
class Sink {
 public:
  struct Handlers {
    std::function<void(const DeliveryReport&)> on_delivery;
    /// The sink can deliver nothing more (a fatal producer error); as SinkBrokenError, a new
    /// sink may.
    std::function<void(const std::string& reason)> on_failure;
  };

  virtual ~Sink() = default;

  /// Receives every delivery report and failure. Set once, before the first Publish.
  virtual void SetHandlers(Handlers handlers) = 0;

  /// Hands one event over without blocking. Its report arrives later through the handler.
  /// Events with the same key are delivered in the order they were published. Returns the
  /// record's size (key plus value in the event's format), which its report gives back.
  /// Throws RecordTooLargeError if the record is over the size limit, SinkError if the event
  /// cannot even be queued.
  virtual std::size_t Publish(const outbox::OutboxEvent& event, std::uint64_t tag) = 0;

  /// Hands a poison row over to dead-letter topic `topic` (outbox::EncodeDeadLetter's layout),
  /// without blocking, like Publish; its report has `dead_letter` set. A value over the size
  /// limit is left out rather than refused. Throws SinkError if it cannot be queued.
  virtual std::size_t PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                        std::uint64_t tag) = 0;

  /// Whether the sink is currently connected to where it delivers (for logs and readiness).
  virtual bool Connected() const = 0;
};

/// A sink that publishes groups of events atomically, with a checkpoint in the same group
/// (Kafka transactions). The coroutines resume on the io_context; none blocks its thread.
class TransactionalSink : public Sink {
 public:
  /// Claims the transactional id, fencing any older producer that uses it, and creates the
  /// checkpoint topic if missing. Throws SinkError.
  virtual boost::asio::awaitable<void> InitTransactions() = 0;

  /// The commit LSN ("X/Y") of this slot's last committed checkpoint, read with
  /// read_committed; nullopt if there is none. Throws SinkError.
  virtual boost::asio::awaitable<std::optional<std::string>> ReadCheckpoint() = 0;

  /// Opens a transaction; every Publish until CommitTransaction belongs to it.
  virtual void BeginTransaction() = 0;

  /// Commits the open transaction with a checkpoint record naming `commit_lsn`, the commit LSN
  /// of its last source transaction. Returns nullopt once committed, or the reason it was
  /// aborted instead (an abortable error: its events must be produced again). Throws
  /// SinkBrokenError on a fatal error (for example, fenced by a newer producer with the same id)
  /// or when the outcome stays unknown.
  virtual boost::asio::awaitable<std::optional<std::string>> CommitTransaction(const std::string& commit_lsn) = 0;

  /// Aborts the open transaction (its events are to be produced again). Throws SinkError.
  virtual boost::asio::awaitable<void> AbortTransaction() = 0;
};

}  // namespace outbox_relay::sinks
