#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>

#include "base/error.hpp"
#include "config/config.hpp"
#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"
#include "relay/pipeline/ack_tracker.hpp"
#include "relay/pipeline/clock.hpp"
#include "relay/server/metrics.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::pipeline {

/// The source transaction being received, as the relay and its delivery strategy count it.
struct SourceTransaction {
  AckTracker::TransactionId id = 0;
  Lsn commit_lsn;
  PgTimestamp commit_time = 0;
  std::size_t events = 0;  // handed to the sink (or dead-lettered) so far
};

/// What a delivery strategy tells the relay around it. Called on the io_context thread.
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  /// A delivery report arrived: the in-flight counts fell.
  virtual void OnReport() = 0;
  /// The watermark may have moved: confirm it soon.
  virtual void OnConfirmable() = 0;
  /// Kafka cannot take more in this attempt (Interruption() says why): stop reading.
  virtual void OnInterrupted() = 0;
  /// Retrying cannot help: stop, confirming nothing more.
  virtual void OnFatal(const std::string& reason) = 0;
};

/// Everything a strategy works with besides its sink.
struct DeliveryContext {
  const config::Config& config;
  AckTracker& tracker;
  server::RelayMetrics& metrics;
  Clock& clock;
  DeliveryListener& listener;
};

/// How events reach Kafka and when a source transaction counts as delivered: at-least-once
/// (DirectDelivery: each acknowledged event) or exactly-once (TransactionalDelivery: Kafka
/// transactions with a checkpoint). Owns the sink and replaces it when it breaks. Expected
/// failures come back as base::Error: retryable ones end the relay's attempt (it re-reads
/// from the watermark), fatal ones stop it. Used from the io_context thread only.
class DeliveryStrategy {
 public:
  using SinkFactory = std::function<std::unique_ptr<sinks::Sink>()>;

  virtual ~DeliveryStrategy() = default;

  /// Once streaming, holding the slot: whatever the sink needs first.
  virtual boost::asio::awaitable<base::Result<void>> Prepare() = 0;

  /// A source transaction begins.
  virtual void Begin(const SourceTransaction& transaction) = 0;
  /// One event of it, handed to the sink (or dead-lettered if Kafka would refuse it).
  virtual base::Result<void> Publish(SourceTransaction& transaction, const outbox::OutboxEvent& event) = 0;
  /// A poison row of it, dead-lettered or, under on_poison: fail, a fatal error.
  virtual base::Result<void> PublishPoison(SourceTransaction& transaction, const outbox::PoisonRow& poison) = 0;
  /// The source transaction is complete (before the tracker learns its commit).
  virtual void Commit(const SourceTransaction& transaction) = 0;

  /// Whether what was published waits for Flush() to count (exactly-once batches), and until when.
  virtual bool FlushDue() const = 0;
  virtual Clock::TimePoint FlushDeadline() const = 0;
  virtual boost::asio::awaitable<base::Result<void>> Flush() = 0;

  /// Why the current attempt must end now (the sink broke, Kafka did not take an event); the
  /// relay re-reads from the watermark after Recover().
  virtual std::optional<base::Error> Interruption() const = 0;
  /// After an attempt ended and what was in flight is reported: abandon what Kafka did not
  /// take, replace a broken sink. A fatal error when delivery cannot go on.
  virtual boost::asio::awaitable<base::Result<void>> Recover() = 0;
  /// At shutdown, after draining: settle what is open (commit it if `commit`, else abort).
  virtual boost::asio::awaitable<void> Close(bool commit) = 0;

  /// Events and bytes handed to the sink without a report yet.
  virtual std::size_t InFlightEvents() const = 0;
  virtual std::size_t InFlightBytes() const = 0;
  /// Something is published and not yet confirmable (in flight, or in an open batch).
  virtual bool Pending() const = 0;
  /// The sink sends no more reports (it broke): nothing in flight will be reported.
  virtual bool ReportsStopped() const = 0;
  virtual bool Connected() const = 0;
};

/// The strategy config.delivery names, over `sink`, replaced through `new_sink` when it breaks.
/// Exactly-once needs transactional sinks (sinks::TransactionalSink); anything else is a
/// configuration error, thrown as sinks::SinkError at start-up.
std::unique_ptr<DeliveryStrategy> MakeDeliveryStrategy(const DeliveryContext& context,
                                                       std::unique_ptr<sinks::Sink> sink,
                                                       DeliveryStrategy::SinkFactory new_sink);

/// The one error line of a poison row under on_poison: fail, or of one outside a transaction.
std::string PoisonFailure(const outbox::PoisonRow& poison, config::PoisonPolicy policy);

}  // namespace outbox_relay::pipeline
