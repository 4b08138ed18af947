#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "base/error.hpp"
#include "config/config.hpp"
#include "relay/pipeline/ack_tracker.hpp"
#include "relay/pipeline/change_source.hpp"
#include "relay/pipeline/clock.hpp"
#include "relay/pipeline/delivery_strategy.hpp"
#include "relay/pipeline/transaction_assembler.hpp"
#include "relay/server/metrics.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::pipeline {

/// The whole data path on one io_context: change source → decoder → assembler → delivery
/// strategy → sink, delivery reports → AckTracker → standby status updates. Reconnects with
/// backoff; stops reading while the in-flight caps are reached.
/// At-least-once (DirectDelivery): a source transaction is confirmed once Kafka acknowledged
/// all its events. Exactly-once (TransactionalDelivery): consecutive source transactions go
/// into one Kafka transaction with a checkpoint; they are confirmed once it commits, and on
/// start transactions at or below the checkpoint are skipped.
/// A producer that fails fatally (fenced, or a transaction outcome that stays unknown) is
/// replaced by a new sink from `new_sink`, and what Kafka did not acknowledge is read again.
class Relay final : private DeliveryListener {
 public:
  using SinkFactory = DeliveryStrategy::SinkFactory;

  /// `source` is the replication connection (PgChangeSource in the process); `clock` gives
  /// every time and wait and must outlive the relay. Throws sinks::SinkError when the sink
  /// does not fit config.delivery (exactly-once needs a transactional sink).
  Relay(boost::asio::io_context& io, const config::Config& config, std::unique_ptr<ChangeSource> source,
        Clock& clock, std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink, server::RelayMetrics& metrics);

  /// Runs until Stop() or a fatal error; returns the process exit code.
  boost::asio::awaitable<int> Run();

  /// Graceful stop: stop reading, drain in-flight events up to shutdown.timeout, confirm what
  /// was delivered, close. Safe to call more than once, from the io_context thread.
  void Stop();

  /// Stops without confirming anything more; the process exits 1.
  void FailFatal(const std::string& reason);

  /// What this relay does: streams from the slot, stands by while another relay holds it, or
  /// neither yet (connecting, or PostgreSQL unreachable).
  enum class Role { kConnecting, kActive, kStandby };

  /// For /readyz and /status: whether this relay does its job. An active relay is ready while
  /// the sink is connected and acknowledgements keep up (none older than
  /// ready.max_lag_seconds while events are pending); a standby while it reaches PostgreSQL
  /// (it found the slot held) and its sink is connected, so that it can take over. `reason`
  /// says why not, or what it does.
  struct Readiness {
    Role role = Role::kConnecting;
    bool ready = false;
    std::string reason;
  };
  Readiness CheckReadiness();
  /// "active", "standby" or "connecting": the role as /status names it.
  static std::string_view RoleName(Role role);

  /// Brings the gauges that follow every event (in flight, ready) up to date. Called when
  /// metrics are scraped rather than per event, which would cost atomics on the hot path.
  void RefreshGauges();

 public:
  /// Why a connection ended early and the relay retries (a fatal error stops it instead).
  struct Lost {
    base::Error error;
    std::string reason;  // for the retry's log line
    bool slot_held_elsewhere = false;
  };

 private:
  boost::asio::awaitable<std::optional<Lost>> Connect();
  boost::asio::awaitable<std::optional<Lost>> Stream();
  std::optional<Lost> Ended(base::Error error);
  boost::asio::awaitable<void> SendStatusUpdates(std::uint64_t connection);
  boost::asio::awaitable<void> WaitForProgress(Clock::TimePoint deadline);
  boost::asio::awaitable<void> EndReadAtStopDeadline();
  boost::asio::awaitable<bool> Drain(Clock::TimePoint deadline);
  boost::asio::awaitable<void> ConfirmAndClose();
  base::Result<void> Handle(const ChangeData& data);
  base::Result<void> Apply(TransactionAssembler::Step& step);
  base::Result<void> OnPoison(const outbox::PoisonRow& poison);
  bool AtCapacity() const;
  bool StopReading() const;
  void ConfirmSoon();
  void OnConfirmed(PgTimestamp commit_time);

  // DeliveryListener
  void OnReport() override;
  void OnConfirmable() override { ConfirmSoon(); }
  void OnInterrupted() override;
  void OnFatal(const std::string& reason) override { FailFatal(reason); }

  boost::asio::io_context& io_;
  const config::Config& config_;
  server::RelayMetrics& metrics_;
  std::unique_ptr<ChangeSource> source_;
  Clock& clock_;
  TransactionAssembler assembler_;
  AckTracker tracker_{Lsn()};
  std::unique_ptr<DeliveryStrategy> delivery_;
  SourceTransaction transaction_;  // the one being received (or the last one)
  // Cancelled whenever deliveries make progress or a stop is requested; waiters re-check.
  std::unique_ptr<Timer> progress_;
  std::unique_ptr<Timer> status_wakeup_;
  std::unique_ptr<Timer> stop_timer_;  // bounds reading on to a commit after Stop()
  Lsn received_;
  Clock::TimePoint last_status_;
  bool confirm_due_ = false;  // the watermark moved since the last status update
  bool reply_due_ = false;    // the server asked for a status update
  Clock::TimePoint last_progress_;
  bool streaming_ = false;
  bool standing_by_ = false;      // another relay holds the slot
  std::uint64_t connection_ = 0;  // bumps on every (re)connect; ends the old status loop
  bool stopping_ = false;
  Clock::TimePoint stop_deadline_;
  std::optional<std::string> fatal_;
};

}  // namespace outbox_relay::pipeline
