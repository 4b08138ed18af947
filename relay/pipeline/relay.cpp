#include "relay/pipeline/relay.hpp"

#include <algorithm>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "base/exit_code.hpp"
#include "base/logging.hpp"
#include "relay/pg/pgoutput.hpp"
#include "relay/pg/replication_protocol.hpp"

namespace outbox_relay::pipeline {

namespace {

using boost::asio::awaitable;

constexpr auto kMinStatusGap = std::chrono::milliseconds(100);

}  // namespace

Relay::Relay(boost::asio::io_context& io, const config::Config& config, std::unique_ptr<ChangeSource> source,
             Clock& clock, std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink, server::RelayMetrics& metrics)
    : io_(io),
      config_(config),
      metrics_(metrics),
      source_(std::move(source)),
      clock_(clock),
      assembler_(config.outbox, config::EventExchange(config)),
      delivery_(MakeDeliveryStrategy(DeliveryContext{config, tracker_, metrics, clock, *this}, std::move(sink),
                                     std::move(new_sink))),
      progress_(clock.MakeTimer()),
      status_wakeup_(clock.MakeTimer()),
      stop_timer_(clock.MakeTimer()),
      last_progress_(clock.Now()) {
  tracker_.SetOnConfirmable([this](Lsn, PgTimestamp commit_time) { OnConfirmed(commit_time); });
}

// ---- the connection loop ----------------------------------------------------------------------

awaitable<int> Relay::Run() {
  auto backoff = config_.source.reconnect_backoff_initial;
  std::mt19937 random(std::random_device{}());
  while (!stopping_) {
    std::optional<Lost> lost = co_await Connect();
    if (!lost && !fatal_) {
      backoff = config_.source.reconnect_backoff_initial;
      lost = co_await Stream();
    }
    streaming_ = false;
    if (!lost) continue;  // stopping, or failed fatally
    // The slot is the lock between relays: while another one streams from it, this one is a
    // standby, retrying often enough to take over within ha.takeover_seconds of its end.
    const bool slot_in_use = lost->slot_held_elsewhere;
    if (!slot_in_use) metrics_.reconnects.Increment();
    ++connection_;
    source_->Close();
    if (!lost->error.retryable()) {
      FailFatal(lost->error.Line());
      break;
    }
    if (stopping_) break;
    std::uniform_int_distribution<long> jitter(0, backoff.count() / 2);
    const auto half_takeover = std::chrono::duration_cast<std::chrono::milliseconds>(config_.ha.takeover) / 2;
    std::uniform_int_distribution<long> standby_delay(half_takeover.count() / 2, half_takeover.count());
    const auto delay = slot_in_use ? std::chrono::milliseconds(standby_delay(random))
                                   : backoff + std::chrono::milliseconds(jitter(random));
    // The server re-sends from the watermark; wait for every report first so the partly
    // received transaction can be forgotten and nothing is confirmed twice.
    if (!slot_in_use) {
      base::RelayLog().warn("{}; draining {} in-flight events, retrying in {} ms", lost->reason,
                            delivery_->InFlightEvents(), delay.count());
    } else if (!standing_by_) {
      base::RelayLog().info("standing by: {}; retrying every {}-{} ms (ha.takeover_seconds {})",
                            lost->error.message, half_takeover.count() / 2, half_takeover.count(),
                            config_.ha.takeover.count());
    }
    standing_by_ = slot_in_use;
    co_await Drain(Clock::TimePoint::max());
    if (fatal_ || stopping_) break;
    const auto recovered = co_await delivery_->Recover();
    if (!recovered) {
      FailFatal(recovered.error().Line());
      break;
    }
    tracker_.Rewind();
    co_await progress_->WaitUntil(clock_.Now() + delay);
    if (!slot_in_use) backoff = std::min(backoff * 2, config_.source.reconnect_backoff_max);
  }
  co_await ConfirmAndClose();
  co_return fatal_ ? base::kExitFatal : base::kExitOk;
}

namespace {

// The source failed: the connection is gone.
std::optional<Relay::Lost> SourceLost(const base::Error& error) {
  return Relay::Lost{error, "replication stream unavailable: " + error.message, false};
}

}  // namespace

std::optional<Relay::Lost> Relay::Ended(base::Error error) {
  if (!error.retryable()) {
    FailFatal(error.Line());
    return std::nullopt;
  }
  std::string reason = error.message;
  return Lost{std::move(error), std::move(reason), false};
}

awaitable<std::optional<Relay::Lost>> Relay::Connect() {
  const auto connected = co_await source_->Connect();
  if (!connected) co_return SourceLost(connected.error());
  const auto slot = co_await source_->EnsureSlot();
  if (!slot) co_return SourceLost(slot.error());
  tracker_.RaiseTo(slot.value());
  assembler_.Reset();
  const auto started = co_await source_->Start(tracker_.Watermark());
  if (!started) co_return SourceLost(started.error());
  if (const auto& held = started.value().slot_held_elsewhere) {
    co_return Lost{base::Error::Retryable(*held), "replication stream unavailable: " + *held, true};
  }
  // Holding the slot: active from here, also while the transactional id is claimed.
  if (std::exchange(standing_by_, false))
    base::RelayLog().info("took over replication slot {}", config_.source.slot);
  streaming_ = true;
  // Status updates first: claiming the transactional id may take longer than the server's
  // wal_sender_timeout.
  boost::asio::co_spawn(io_, SendStatusUpdates(++connection_), boost::asio::detached);
  // Only now, holding the slot: claiming the transactional id fences the previous owner.
  const auto prepared = co_await delivery_->Prepare();
  if (!prepared) co_return Ended(prepared.error());
  co_return std::nullopt;
}

awaitable<std::optional<Relay::Lost>> Relay::Stream() {
  for (;;) {
    while (AtCapacity() && !StopReading()) {
      if (auto why = delivery_->Interruption()) co_return Ended(std::move(*why));
      co_await WaitForProgress(clock_.Now() + std::chrono::seconds(1));
    }
    if (StopReading()) co_return std::nullopt;
    if (auto why = delivery_->Interruption()) co_return Ended(std::move(*why));
    auto data = co_await source_->Read(stopping_ ? stop_deadline_ : delivery_->FlushDeadline());
    if (!data) co_return SourceLost(data.error());
    if (StopReading()) co_return std::nullopt;
    if (auto why = delivery_->Interruption()) co_return Ended(std::move(*why));
    if (data.value()) {
      const auto handled = Handle(*data.value());
      if (!handled) co_return Ended(handled.error());
    }
    if (delivery_->FlushDue()) {
      const auto flushed = co_await delivery_->Flush();
      if (!flushed) co_return Ended(flushed.error());
    }
  }
}

// ---- one message ------------------------------------------------------------------------------

base::Result<void> Relay::Handle(const ChangeData& data) {
  TransactionAssembler::Step step;
  try {
    const auto message = pg::DecodeServerCopyData(data.Bytes());
    if (const auto* keepalive = std::get_if<pg::PrimaryKeepalive>(&message)) {
      received_ = std::max(received_, keepalive->wal_end);
      metrics_.received_lsn.Set(static_cast<double>(received_.Value()));
      tracker_.OnKeepalive(keepalive->wal_end);
      // Nothing pending: caught up with the server.
      if (!tracker_.TransactionOpen() && !delivery_->Pending()) metrics_.lag_seconds.Set(0);
      if (keepalive->reply_requested) {
        reply_due_ = true;
        status_wakeup_->Cancel();
      }
      return boost::outcome_v2::success();
    }
    const auto& xlog = std::get<pg::XLogData>(message);
    received_ = std::max(received_, xlog.wal_start);
    step = assembler_.Apply(pg::DecodePgOutput(xlog.payload));
  } catch (const PoisonEventError& error) {
    return OnPoison(error.row());
  } catch (const pg::DecodeError& error) {
    return base::Error::Fatal(std::string("replication stream is corrupt: ") + error.what());
  }
  return Apply(step);
}

base::Result<void> Relay::OnPoison(const outbox::PoisonRow& poison) {
  // Confirming a dead-lettered row takes its transaction's commit.
  if (!tracker_.TransactionOpen()) return base::Error::Fatal(PoisonFailure(poison, config_.on_poison));
  return delivery_->PublishPoison(transaction_, poison);
}

base::Result<void> Relay::Apply(TransactionAssembler::Step& step) {
  if (const auto* begin = std::get_if<TransactionAssembler::BeginStep>(&step)) {
    transaction_ = SourceTransaction{tracker_.Begin(), begin->commit_lsn, begin->commit_time, 0};
    delivery_->Begin(transaction_);
  } else if (const auto* event = std::get_if<TransactionAssembler::EventStep>(&step)) {
    return delivery_->Publish(transaction_, event->event);
  } else if (const auto* commit = std::get_if<TransactionAssembler::CommitStep>(&step)) {
    delivery_->Commit(transaction_);
    const std::size_t events = transaction_.events;
    if (events > 0) metrics_.transaction_events.Observe(static_cast<double>(events));
    metrics_.received_lsn.Set(static_cast<double>(commit->end_lsn.Value()));
    // Heartbeat-only transactions would flatter the commit-to-ack latency of events.
    tracker_.Commit(commit->end_lsn, events > 0 ? transaction_.commit_time : 0);
  }
  return boost::outcome_v2::success();
}

// ---- flow control and progress ---------------------------------------------------------------

bool Relay::AtCapacity() const {
  return delivery_->InFlightEvents() >= config_.flow.max_in_flight_events ||
         delivery_->InFlightBytes() >= config_.flow.max_in_flight_bytes;
}

void Relay::OnReport() {
  progress_->Cancel();
  if (delivery_->InFlightEvents() == 0) last_progress_ = clock_.Now();
}

void Relay::OnInterrupted() {
  // The read or the wait in progress ends, and Stream meets the interruption.
  source_->CancelRead();
  progress_->Cancel();
}

void Relay::OnConfirmed(PgTimestamp commit_time) {
  last_progress_ = clock_.Now();
  if (commit_time == 0) return;
  const double age = pg::SecondsSince(commit_time, clock_.WallNow());
  metrics_.commit_to_ack_seconds.Observe(age);
  metrics_.lag_seconds.Set(age);
}

void Relay::ConfirmSoon() {
  // Each confirmation sooner is a transaction fewer re-sent after a crash; kMinStatusGap keeps
  // a busy stream from sending a status update per commit, and waking the status loop once per
  // update, not per commit, keeps the wake-ups bounded by time too.
  if (!std::exchange(confirm_due_, true)) status_wakeup_->Cancel();
}

awaitable<void> Relay::WaitForProgress(Clock::TimePoint deadline) { co_await progress_->WaitUntil(deadline); }

awaitable<bool> Relay::Drain(Clock::TimePoint deadline) {
  // A broken sink sends no more reports.
  while (delivery_->InFlightEvents() > 0 && !fatal_ && !delivery_->ReportsStopped() && clock_.Now() < deadline) {
    co_await WaitForProgress(deadline);
  }
  co_return delivery_->InFlightEvents() == 0;
}

awaitable<void> Relay::SendStatusUpdates(std::uint64_t connection) {
  last_status_ = clock_.Now();
  while (connection == connection_) {
    const auto now = clock_.Now();
    const auto due = reply_due_     ? now
                     : confirm_due_ ? last_status_ + kMinStatusGap
                                    : last_status_ + config_.source.status_interval;
    if (now < due) {
      // Ended early by ConfirmSoon or a reply request: the due time is worked out afresh.
      co_await status_wakeup_->WaitUntil(due);
      continue;
    }
    last_status_ = now;
    confirm_due_ = false;
    reply_due_ = false;
    const auto sent = co_await source_->SendStatus(received_, tracker_.Watermark());
    if (!sent) {
      // The reading side sees the same broken connection and reconnects.
      base::RelayLog().debug("status update failed: {}", sent.error().message);
      break;
    }
    metrics_.acknowledged_lsn.Set(static_cast<double>(tracker_.Watermark().Value()));
  }
}

// ---- stopping ---------------------------------------------------------------------------------

void Relay::Stop() {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ = clock_.Now() + config_.shutdown.timeout;
  // A transaction cut in half would be re-sent whole after the restart: read on to its commit
  // (within shutdown.timeout) unless the relay is failing.
  if (tracker_.TransactionOpen() && !fatal_) {
    base::RelayLog().info("stopping after the transaction being received; draining {} in-flight events",
                          delivery_->InFlightEvents());
    // A read already waiting does not see the new deadline; end it there.
    boost::asio::co_spawn(io_, EndReadAtStopDeadline(), boost::asio::detached);
  } else {
    base::RelayLog().info("stopping: no more reading, draining {} in-flight events", delivery_->InFlightEvents());
    source_->CancelRead();
  }
  progress_->Cancel();
}

awaitable<void> Relay::EndReadAtStopDeadline() {
  // (GCC 12 miscompiles a co_await inside an if condition here: a statement of its own.)
  const bool expired = co_await stop_timer_->WaitUntil(stop_deadline_);
  if (expired) source_->CancelRead();
}

bool Relay::StopReading() const {
  return stopping_ && (fatal_ || !tracker_.TransactionOpen() || clock_.Now() >= stop_deadline_);
}

void Relay::FailFatal(const std::string& reason) {
  if (fatal_) return;
  metrics_.DeliveryErrors("fatal").Increment();
  base::RelayLog().error("{}; no further WAL is confirmed", reason);
  fatal_ = reason;
  Stop();
}

awaitable<void> Relay::ConfirmAndClose() {
  ++connection_;
  status_wakeup_->Cancel();
  if (!fatal_) {
    const bool drained = co_await Drain(clock_.Now() + config_.shutdown.timeout);
    if (!drained) {
      base::RelayLog().warn("shutdown.timeout reached with {} events unconfirmed; they will be re-sent on restart",
                            delivery_->InFlightEvents());
    }
  }
  // Commit what is complete; a half-received source transaction is re-read on restart.
  co_await delivery_->Close(!fatal_ && !tracker_.TransactionOpen());
  if (source_->IsOpen()) {
    auto confirmed = co_await source_->SendStatus(received_, tracker_.Watermark());
    if (confirmed) {
      // Closing with unread data resets the connection, and the server may then drop the
      // status update just sent; ending COPY first lets it read everything in order.
      confirmed = co_await source_->Finish();
    }
    if (confirmed) {
      base::RelayLog().info("confirmed {} to slot {}", tracker_.Watermark().ToString(), config_.source.slot);
    } else {
      base::RelayLog().warn("final confirmation not sent: {}", confirmed.error().message);
    }
  }
  source_->Close();
}

// ---- readiness --------------------------------------------------------------------------------

void Relay::RefreshGauges() {
  metrics_.in_flight_events.Set(static_cast<double>(delivery_->InFlightEvents()));
  metrics_.in_flight_bytes.Set(static_cast<double>(delivery_->InFlightBytes()));
  CheckReadiness();
}

std::string_view Relay::RoleName(Role role) {
  switch (role) {
    case Role::kActive:
      return "active";
    case Role::kStandby:
      return "standby";
    case Role::kConnecting:
      break;
  }
  return "connecting";
}

Relay::Readiness Relay::CheckReadiness() {
  Readiness readiness;
  readiness.role = streaming_ ? Role::kActive : standing_by_ ? Role::kStandby : Role::kConnecting;
  const auto silent = std::chrono::duration_cast<std::chrono::seconds>(clock_.Now() - last_progress_);
  if (standing_by_) {
    const std::string standby = "standby: replication slot " + config_.source.slot + " is held by another relay";
    readiness.ready = delivery_->Connected();
    readiness.reason = standby + (readiness.ready ? "; ready to take over" : "; the sink is not connected");
  } else if (!streaming_) {
    readiness.reason = "not streaming: connecting to PostgreSQL";
  } else if (!delivery_->Connected()) {
    readiness.reason = "the sink is not connected";
  } else if (delivery_->Pending() && silent > config_.ready.max_lag) {
    readiness.reason = "no acknowledgement for " + std::to_string(silent.count()) +
                       " s while events are pending (ready.max_lag_seconds)";
  } else if (metrics_.lag_seconds.Value() > static_cast<double>(config_.ready.max_lag.count())) {
    readiness.reason = "replication lag is over ready.max_lag_seconds";
  } else {
    readiness.ready = true;
    readiness.reason = "ready";
  }
  metrics_.ready.Set(readiness.ready ? 1 : 0);
  metrics_.active.Set(streaming_ ? 1 : 0);
  return readiness;
}

}  // namespace outbox_relay::pipeline
