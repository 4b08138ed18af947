#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "relay/pipeline/ack_tracker.hpp"
#include "relay/pipeline/change_source.hpp"
#include "relay/pipeline/clock.hpp"
#include "relay/server/metrics.hpp"
#include "relay/pipeline/transaction_assembler.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::pipeline {

/// The whole data path on one io_context: replication stream → decoder → assembler → sink,
/// delivery reports → AckTracker → standby status updates. Reconnects with backoff; stops
/// reading while the in-flight caps are reached.
/// At-least-once: a source transaction is confirmed once Kafka acknowledged all its events.
/// Exactly-once: consecutive source transactions go into one Kafka transaction with a
/// checkpoint; they are confirmed once it commits, and on start transactions at or below the
/// checkpoint are skipped.
/// A producer that fails fatally (fenced, or a transaction outcome that stays unknown) is
/// replaced by a new sink from `new_sink`, and what Kafka did not acknowledge is read again.
class Relay {
 public:
  using SinkFactory = std::function<std::unique_ptr<sinks::Sink>()>;

  /// `source` is the replication connection (PgChangeSource in the process); `clock` gives
  /// every time and wait and must outlive the relay.
  Relay(boost::asio::io_context& io, const config::Config& config, std::unique_ptr<ChangeSource> source, Clock& clock,
        std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink, server::RelayMetrics& metrics);

  /// Runs until Stop() or a fatal error; returns the process exit code.
  boost::asio::awaitable<int> Run();

  /// Graceful stop: stop reading, drain in-flight events up to shutdown.timeout, confirm what
  /// was delivered, close. Safe to call more than once, from the io_context thread.
  void Stop();

  /// Stops without confirming anything more; the process exits 1.
  void FailFatal(const std::string& reason);

  /// For /readyz: ready while the slot is held, the sink is connected and acknowledgements keep
  /// up (none older than ready.max_lag_seconds while events are pending). `reason` says why not.
  struct Readiness {
    bool ready = false;
    std::string reason;
  };
  Readiness CheckReadiness();

  /// Brings the gauges that follow every event (in flight, ready) up to date. Called when
  /// metrics are scraped rather than per event, which would cost atomics on the hot path.
  void RefreshGauges();

 private:
  boost::asio::awaitable<void> Stream();
  boost::asio::awaitable<void> SendStatusUpdates(std::uint64_t connection);
  boost::asio::awaitable<void> WaitForProgress(Clock::TimePoint deadline);
  boost::asio::awaitable<void> EndReadAtStopDeadline();
  boost::asio::awaitable<bool> Drain(Clock::TimePoint deadline);
  boost::asio::awaitable<void> ConfirmAndClose();
  boost::asio::awaitable<void> StartTransactions();
  boost::asio::awaitable<void> CommitBatch();
  boost::asio::awaitable<void> AbandonBatch();
  bool BatchDue() const;
  Clock::TimePoint BatchDeadline() const;
  void Handle(const ChangeData& data);
  void Apply(TransactionAssembler::Step& step);
  std::uint64_t NextTag();
  void OnPoison(const outbox::PoisonRow& poison);
  void DeadLetter(const outbox::PoisonRow& poison, std::uint64_t tag);
  void OnDelivery(const sinks::DeliveryReport& report);
  void OnTransactionalDelivery(const sinks::DeliveryReport& report);
  void OnDirectDelivery(const sinks::DeliveryReport& report);
  void ConfirmSoon();
  bool AtCapacity() const;
  bool StopReading() const;
  void OnConfirmable(PgTimestamp commit_time);
  void InstallSink(std::unique_ptr<sinks::Sink> sink);
  void OnSinkBroken(const std::string& reason);
  bool ReplaceSink();
  void OnUndelivered(const std::string& error);
  void ThrowIfKafkaFailed() const;

  boost::asio::io_context& io_;
  const config::Config& config_;
  std::unique_ptr<sinks::Sink> sink_;
  SinkFactory new_sink_;
  server::RelayMetrics& metrics_;
  // The sink can deliver nothing more (why): it is replaced before the next attempt.
  std::optional<std::string> sink_broken_;
  // The sink has delivered something: a failure after that is no sign that a new one would fail.
  bool sink_delivered_ = false;
  // At-least-once: an event Kafka did not acknowledge in time (its error); read again.
  std::optional<std::string> undelivered_;
  sinks::TransactionalSink* transactional_ = nullptr;  // set in exactly-once mode
  std::unique_ptr<ChangeSource> stream_;
  Clock& clock_;
  TransactionAssembler assembler_;
  AckTracker tracker_{Lsn()};
  AckTracker::TransactionId transaction_ = 0;
  Lsn transaction_commit_lsn_;
  PgTimestamp transaction_commit_time_ = 0;
  std::size_t transaction_events_ = 0;
  bool skipping_ = false;  // the current transaction is already in Kafka (exactly-once)

  // Exactly-once: the open Kafka transaction.
  struct Batch {
    bool open = false;
    std::size_t events = 0;
    std::vector<AckTracker::TransactionId> transactions;  // complete source transactions in it
    Lsn last_commit_lsn;
    Clock::TimePoint first_commit;
    std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> published;  // topic → events, bytes
    std::map<outbox::PoisonReason, std::size_t> dead_lettered;
    bool failed = false;  // a record of it failed: Kafka takes no more records and only aborts it
  };
  Batch batch_;
  std::optional<Lsn> checkpoint_;  // commit LSN of the last committed Kafka transaction
  // Exactly-once: records Kafka refused as too large, by source commit LSN and index in their
  // transaction. Such a refusal aborts the Kafka transaction; when the server sends the source
  // transaction again, these go to the dead-letter topic instead. Pruned at each commit.
  std::set<std::pair<Lsn, std::uint64_t>> refused_;
  bool transactions_ready_ = false;
  // Cancelled whenever deliveries make progress or a stop is requested; waiters re-check.
  std::unique_ptr<Timer> progress_;
  std::unique_ptr<Timer> status_wakeup_;
  std::unique_ptr<Timer> stop_timer_;  // bounds reading on to a commit after Stop()
  std::size_t in_flight_events_ = 0;  // handed to the sink, no delivery report yet
  std::size_t in_flight_bytes_ = 0;
  Lsn received_;
  Clock::TimePoint last_status_;
  Clock::TimePoint last_progress_;
  bool streaming_ = false;
  bool standing_by_ = false;  // another relay holds the slot
  std::uint64_t connection_ = 0;  // bumps on every (re)connect; ends the old status loop
  bool stopping_ = false;
  Clock::TimePoint stop_deadline_;
  std::optional<std::string> fatal_;
};

}  // namespace outbox_relay::pipeline
