#include "relay/pipeline/relay.hpp"

#include <algorithm>
#include <limits>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/exit_code.hpp"
#include "base/logging.hpp"
#include "relay/pg/pgoutput.hpp"
#include "relay/pg/replication_protocol.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::pipeline {

namespace {

using boost::asio::awaitable;
using boost::asio::use_awaitable;

spdlog::logger& Log() { return base::Logger("relay"); }

constexpr auto kMinStatusGap = std::chrono::milliseconds(100);

// A poison row under on_poison: fail, or one that cannot be dead-lettered: the one error line.
std::string PoisonFailure(const PoisonEventError& error, config::PoisonPolicy policy) {
  return std::string(error.what()) + "; its transaction is not confirmed: fix the row, the table or the configuration" +
         (policy == config::PoisonPolicy::kFail ? ", or set on_poison: dead-letter"
                                                : " (outside a transaction it cannot be dead-lettered)");
}

// An event whose record Kafka refused as too large, as a poison row holding that record.
outbox::PoisonRow RefusedEvent(const outbox::OutboxEvent& event, std::string detail) {
  outbox::EncodedEvent record;
  outbox::EncodeEvent(event, record);
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kRecordTooLarge;
  poison.detail = std::move(detail);
  poison.source = event.source;
  poison.id = event.id;
  poison.commit_lsn = event.commit_lsn;
  poison.topic = event.topic;
  poison.key = event.key;
  if (record.value) poison.value.emplace(*record.value);
  for (const auto& [name, value] : record.headers) poison.headers.emplace_back(name, value);
  return poison;
}

// Kafka did not take what was sent in this attempt (an aborted Kafka transaction, events that
// timed out): the server sends everything from the watermark again.
class RetryFromWatermark : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The source's failures as the exceptions the loop below still handles.
template <typename T>
T TakeOrThrow(base::Result<T> result) {
  if (!result) throw pg::ReplicationError(result.error().message, result.error().retryable());
  return std::move(result).value();
}

void TakeOrThrow(base::Result<void> result) {
  if (!result) throw pg::ReplicationError(result.error().message, result.error().retryable());
}

}  // namespace

Relay::Relay(boost::asio::io_context& io, const config::Config& config, std::unique_ptr<ChangeSource> source,
             Clock& clock, std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink, server::RelayMetrics& metrics)
    : io_(io),
      config_(config),
      new_sink_(std::move(new_sink)),
      metrics_(metrics),
      stream_(std::move(source)),
      clock_(clock),
      assembler_(config.outbox),
      progress_(clock.MakeTimer()),
      status_wakeup_(clock.MakeTimer()),
      stop_timer_(clock.MakeTimer()),
      last_progress_(clock.Now()) {
  InstallSink(std::move(sink));
  tracker_.SetOnConfirmable([this](Lsn, PgTimestamp commit_time) { OnConfirmable(commit_time); });
}

void Relay::InstallSink(std::unique_ptr<sinks::Sink> sink) {
  sink_ = std::move(sink);
  sink_delivered_ = false;
  sink_->SetHandlers({[this](const sinks::DeliveryReport& report) { OnDelivery(report); },
                      [this](const std::string& reason) { OnSinkBroken(reason); }});
  if (config_.delivery == config::DeliveryMode::kExactlyOnce) {
    transactional_ = dynamic_cast<sinks::TransactionalSink*>(sink_.get());
    if (transactional_ == nullptr) throw sinks::SinkError("exactly-once delivery needs the Kafka sink");
    transactions_ready_ = false;
  }
}

void Relay::OnSinkBroken(const std::string& reason) {
  if (sink_broken_ || fatal_) return;
  sink_broken_ = reason;
  // The read or the wait in progress ends, and Stream or Run meets sink_broken_.
  stream_->CancelRead();
  progress_->Cancel();
}

bool Relay::ReplaceSink() {
  const std::string reason = *std::exchange(sink_broken_, std::nullopt);
  if (!sink_delivered_) {
    // A new producer would meet the same refusal (an authorisation, another owner of the id).
    FailFatal(reason + "; this producer had delivered nothing, so a new one is not tried");
    return false;
  }
  std::unique_ptr<sinks::Sink> replacement;
  try {
    replacement = new_sink_();
  } catch (const sinks::SinkError& error) {
    FailFatal(reason + "; cannot create a new producer: " + error.what());
    return false;
  }
  metrics_.DeliveryErrors("producer_replaced").Increment();
  Log().warn("{}; replacing the producer, which drops its {} unacknowledged events: they are read again from {}",
             reason, in_flight_events_, tracker_.Watermark().ToString());
  // The old one goes without reports: what it still held is sent again through the new one.
  sink_.reset();
  in_flight_events_ = 0;
  in_flight_bytes_ = 0;
  InstallSink(std::move(replacement));
  return true;
}

void Relay::OnUndelivered(const std::string& error) {
  metrics_.DeliveryErrors("delivery").Increment();
  if (undelivered_) return;
  undelivered_ = error;
  stream_->CancelRead();
  progress_->Cancel();
}

void Relay::ThrowIfKafkaFailed() const {
  if (sink_broken_) throw sinks::SinkBrokenError(*sink_broken_);
  if (undelivered_) {
    throw RetryFromWatermark("Kafka did not acknowledge an event in time (" + *undelivered_ + "); sending again from " +
                             tracker_.Watermark().ToString());
  }
}

void Relay::Stop() {
  if (stopping_) return;
  stopping_ = true;
  stop_deadline_ = clock_.Now() + config_.shutdown.timeout;
  // A transaction cut in half would be re-sent whole after the restart: read on to its commit
  // (within shutdown.timeout) unless the relay is failing.
  if (tracker_.TransactionOpen() && !fatal_) {
    Log().info("stopping after the transaction being received; draining {} in-flight events", in_flight_events_);
    // A read already waiting does not see the new deadline; end it there.
    boost::asio::co_spawn(io_, EndReadAtStopDeadline(), boost::asio::detached);
  } else {
    Log().info("stopping: no more reading, draining {} in-flight events", in_flight_events_);
    stream_->CancelRead();
  }
  progress_->Cancel();
}

bool Relay::StopReading() const {
  return stopping_ && (fatal_ || !tracker_.TransactionOpen() || clock_.Now() >= stop_deadline_);
}

void Relay::FailFatal(const std::string& reason) {
  if (fatal_) return;
  metrics_.DeliveryErrors("fatal").Increment();
  Log().error("{}; no further WAL is confirmed", reason);
  fatal_ = reason;
  Stop();
}

bool Relay::AtCapacity() const {
  return in_flight_events_ >= config_.flow.max_in_flight_events ||
         in_flight_bytes_ >= config_.flow.max_in_flight_bytes;
}

void Relay::OnDelivery(const sinks::DeliveryReport& report) {
  --in_flight_events_;
  in_flight_bytes_ -= std::min(in_flight_bytes_, report.bytes);
  progress_->Cancel();
  if (in_flight_events_ == 0) last_progress_ = clock_.Now();
  // Reports arrive on the io_context outside the stream's try block: failures end here.
  try {
    if (transactional_ != nullptr) {
      OnTransactionalDelivery(report);
    } else {
      OnDirectDelivery(report);
    }
  } catch (const PoisonEventError& error) {
    FailFatal(PoisonFailure(error, config_.on_poison));
  } catch (const sinks::SinkError& error) {
    FailFatal(error.what());
  }
}

void Relay::OnTransactionalDelivery(const sinks::DeliveryReport& report) {
  if (report.error) {
    // A dead-letter record withdrawn by the abort, or timed out, is written again with its
    // transaction; one Kafka refused would be refused again.
    if (report.dead_letter && !report.retriable) {
      FailFatal("dead-letter write failed (" + *report.error + "); check dead_letter.topic");
      return;
    }
    if (report.too_large) {
      const auto commit = Lsn::Parse(report.too_large->commit_lsn);
      if (config_.on_poison == config::PoisonPolicy::kFail || !commit) throw PoisonEventError(*report.too_large);
      refused_.emplace(*commit, report.tag);
    }
    if (!report.purged) batch_.failed = true;
    // Delivered is not committed: the Kafka transaction's commit confirms, and a failed event
    // makes that commit fail (abort, re-read from the watermark).
    // One line per event would flood the log after an abort; the commit result names the cause.
    Log().debug("event in the open Kafka transaction failed: {}", *report.error);
    return;
  }
  if (report.dead_letter) {
    ++batch_.dead_lettered[*report.dead_letter];
    return;
  }
  auto& [events, bytes] = batch_.published[std::string(report.topic)];
  ++events;
  bytes += report.bytes;
}

void Relay::OnDirectDelivery(const sinks::DeliveryReport& report) {
  if (report.too_large) {
    // The event stays counted in its transaction until its dead-letter record is acknowledged.
    DeadLetter(*report.too_large, report.tag);
    return;
  }
  if (report.error) {
    // Timed out: Kafka may take it later; skipping it would lose it. Read again from the slot.
    if (report.retriable) {
      OnUndelivered(*report.error);
      return;
    }
    if (report.dead_letter) {
      FailFatal("dead-letter write failed (" + *report.error + "); check dead_letter.topic");
      return;
    }
    metrics_.DeliveryErrors("delivery").Increment();
    // Kafka refused it after the producer's own retries: it would refuse it again. Keep the slot
    // where it is and stop.
    FailFatal("delivery failed permanently (" + *report.error + "); fix the topic or the broker, then restart");
    return;
  }
  sink_delivered_ = true;
  if (report.dead_letter) {
    metrics_.DeadLettered(*report.dead_letter).Increment();
  } else {
    metrics_.EventsPublished(report.topic).Increment();
    metrics_.BytesPublished(report.topic).Increment(static_cast<double>(report.bytes));
  }
  const Lsn before = tracker_.Watermark();
  tracker_.Delivered(report.tag);
  if (tracker_.Watermark() != before) ConfirmSoon();
}

void Relay::OnConfirmable(PgTimestamp commit_time) {
  last_progress_ = clock_.Now();
  if (commit_time == 0) return;
  const double age = pg::SecondsSince(commit_time, clock_.WallNow());
  metrics_.commit_to_ack_seconds.Observe(age);
  metrics_.lag_seconds.Set(age);
}

void Relay::RefreshGauges() {
  metrics_.in_flight_events.Set(static_cast<double>(in_flight_events_));
  metrics_.in_flight_bytes.Set(static_cast<double>(in_flight_bytes_));
  CheckReadiness();
}

Relay::Readiness Relay::CheckReadiness() {
  Readiness readiness;
  const bool pending = in_flight_events_ > 0 || batch_.open;
  const auto silent = std::chrono::duration_cast<std::chrono::seconds>(clock_.Now() - last_progress_);
  if (standing_by_) {
    readiness.reason = "standby: replication slot " + config_.source.slot + " is held by another relay";
  } else if (!streaming_) {
    readiness.reason = "not streaming: connecting to PostgreSQL";
  } else if (!sink_->Connected()) {
    readiness.reason = "the sink is not connected";
  } else if (pending && silent > config_.ready.max_lag) {
    readiness.reason = "no acknowledgement for " + std::to_string(silent.count()) +
                       " s while events are pending (ready.max_lag_seconds)";
  } else if (metrics_.lag_seconds.Value() > static_cast<double>(config_.ready.max_lag.count())) {
    readiness.reason = "replication lag is over ready.max_lag_seconds";
  } else {
    readiness.ready = true;
    readiness.reason = "ready";
  }
  metrics_.ready.Set(readiness.ready ? 1 : 0);
  return readiness;
}

void Relay::ConfirmSoon() {
  // Each confirmation sooner is a transaction fewer re-sent after a crash; the gap keeps a
  // busy stream from sending a status update per commit.
  if (clock_.Now() - last_status_ >= kMinStatusGap) status_wakeup_->Cancel();
}

awaitable<void> Relay::WaitForProgress(Clock::TimePoint deadline) { co_await progress_->WaitUntil(deadline); }

awaitable<void> Relay::EndReadAtStopDeadline() {
  // (GCC 12 miscompiles a co_await inside an if condition here: a statement of its own.)
  const bool expired = co_await stop_timer_->WaitUntil(stop_deadline_);
  if (expired) stream_->CancelRead();
}

awaitable<bool> Relay::Drain(Clock::TimePoint deadline) {
  // A broken sink sends no more reports.
  while (in_flight_events_ > 0 && !fatal_ && !sink_broken_ && clock_.Now() < deadline) {
    co_await WaitForProgress(deadline);
  }
  co_return in_flight_events_ == 0;
}

awaitable<int> Relay::Run() {
  auto backoff = config_.source.reconnect_backoff_initial;
  std::mt19937 random(std::random_device{}());
  while (!stopping_) {
    std::optional<pg::ReplicationError> lost;
    std::string retry_reason;
    try {
      TakeOrThrow(co_await stream_->Connect());
      tracker_.RaiseTo(TakeOrThrow(co_await stream_->EnsureSlot()));
      assembler_.Reset();
      const auto started = TakeOrThrow(co_await stream_->Start(tracker_.Watermark()));
      if (started.slot_held_elsewhere) {
        throw pg::ReplicationError(*started.slot_held_elsewhere, true, std::string(pg::sqlstate::kObjectInUse));
      }
      // Status updates first: claiming the transactional id may take longer than the server's
      // wal_sender_timeout.
      boost::asio::co_spawn(io_, SendStatusUpdates(++connection_), boost::asio::detached);
      // Only now, holding the slot: claiming the transactional id fences the previous owner.
      if (transactional_ != nullptr && !transactions_ready_) co_await StartTransactions();
      backoff = config_.source.reconnect_backoff_initial;
      if (standing_by_) Log().info("took over replication slot {}", config_.source.slot);
      standing_by_ = false;
      streaming_ = true;
      co_await Stream();
    } catch (const pg::ReplicationError& error) {
      lost = error;
      retry_reason = std::string("replication stream unavailable: ") + error.what();
    } catch (const RetryFromWatermark& error) {
      lost.emplace(error.what(), true);
      retry_reason = error.what();
    } catch (const sinks::SinkBrokenError& error) {
      OnSinkBroken(error.what());
      lost.emplace(error.what(), true);
      retry_reason = error.what();
    } catch (const pg::DecodeError& error) {
      FailFatal(std::string("replication stream is corrupt: ") + error.what());
    } catch (const PoisonEventError& error) {
      FailFatal(PoisonFailure(error, config_.on_poison));
    } catch (const sinks::SinkError& error) {
      if (error.retryable()) {
        lost.emplace(error.what(), true);
        retry_reason = error.what();
      } else {
        FailFatal(error.what());
      }
    }
    streaming_ = false;
    if (!lost) continue;
    // The slot is the lock between relays: while another one streams from it, this one is a
    // standby, retrying often enough to take over within ha.takeover_seconds of its end.
    const bool slot_in_use = lost->sqlstate() == pg::sqlstate::kObjectInUse;
    if (!slot_in_use) metrics_.reconnects.Increment();
    ++connection_;
    stream_->Close();
    if (!lost->retryable()) {
      FailFatal(lost->what());
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
      Log().warn("{}; draining {} in-flight events, retrying in {} ms", retry_reason, in_flight_events_,
                 delay.count());
    } else if (!standing_by_) {
      Log().info("standing by: {}; retrying every {}-{} ms (ha.takeover_seconds {})", lost->what(),
                 half_takeover.count() / 2, half_takeover.count(), config_.ha.takeover.count());
    }
    standing_by_ = slot_in_use;
    co_await Drain(Clock::TimePoint::max());
    if (fatal_ || stopping_) break;
    if (batch_.open && !sink_broken_) {
      try {
        co_await AbandonBatch();
      } catch (const sinks::SinkBrokenError& error) {
        OnSinkBroken(error.what());
      } catch (const sinks::SinkError& error) {
        FailFatal(error.what());
        break;
      }
    }
    if (sink_broken_ && !ReplaceSink()) break;
    undelivered_.reset();
    tracker_.Rewind();
    // Reports of the aborted transaction that arrived after its commit attempt began.
    batch_ = Batch{};
    co_await progress_->WaitUntil(clock_.Now() + delay);
    if (!slot_in_use) backoff = std::min(backoff * 2, config_.source.reconnect_backoff_max);
  }
  co_await ConfirmAndClose();
  co_return fatal_ ? base::kExitFatal : base::kExitOk;
}

awaitable<void> Relay::ConfirmAndClose() {
  ++connection_;
  status_wakeup_->Cancel();
  if (!fatal_) {
    const auto deadline = clock_.Now() + config_.shutdown.timeout;
    if (!co_await Drain(deadline)) {
      Log().warn("shutdown.timeout reached with {} events unconfirmed; they will be re-sent on restart",
                 in_flight_events_);
    }
  }
  if (batch_.open) {
    // Commit what is complete; a half-received source transaction is re-read on restart.
    try {
      if (!fatal_ && !tracker_.TransactionOpen() && !batch_.transactions.empty()) {
        co_await CommitBatch();
      } else {
        co_await AbandonBatch();
      }
    } catch (const std::exception& error) {
      Log().warn("open Kafka transaction not committed at shutdown: {}", error.what());
    }
  }
  if (stream_->IsOpen()) {
    try {
      TakeOrThrow(co_await stream_->SendStatus(received_, tracker_.Watermark()));
      // Closing with unread data resets the connection, and the server may then drop the
      // status update just sent; ending COPY first lets it read everything in order.
      TakeOrThrow(co_await stream_->Finish());
      Log().info("confirmed {} to slot {}", tracker_.Watermark().ToString(), config_.source.slot);
    } catch (const pg::ReplicationError& error) {
      Log().warn("final confirmation not sent: {}", error.what());
    }
  }
  stream_->Close();
}

awaitable<void> Relay::Stream() {
  for (;;) {
    while (AtCapacity() && !StopReading()) {
      ThrowIfKafkaFailed();
      co_await WaitForProgress(clock_.Now() + std::chrono::seconds(1));
    }
    if (StopReading()) co_return;
    ThrowIfKafkaFailed();
    auto data = TakeOrThrow(co_await stream_->Read(stopping_ ? stop_deadline_ : BatchDeadline()));
    if (StopReading()) co_return;
    ThrowIfKafkaFailed();
    if (data) Handle(*data);
    if (BatchDue()) co_await CommitBatch();
  }
}

void Relay::Handle(const ChangeData& data) {
  const auto message = pg::DecodeServerCopyData(data.Bytes());
  if (const auto* keepalive = std::get_if<pg::PrimaryKeepalive>(&message)) {
    received_ = std::max(received_, keepalive->wal_end);
    metrics_.received_lsn.Set(static_cast<double>(received_.Value()));
    tracker_.OnKeepalive(keepalive->wal_end);
    // Nothing pending: caught up with the server.
    if (!tracker_.TransactionOpen() && in_flight_events_ == 0 && !batch_.open) metrics_.lag_seconds.Set(0);
    if (keepalive->reply_requested) status_wakeup_->Cancel();
    return;
  }
  const auto& xlog = std::get<pg::XLogData>(message);
  received_ = std::max(received_, xlog.wal_start);
  TransactionAssembler::Step step;
  try {
    step = assembler_.Apply(pg::DecodePgOutput(xlog.payload));
  } catch (const PoisonEventError& error) {
    OnPoison(error.row());
    return;
  }
  Apply(step);
}

void Relay::OnPoison(const outbox::PoisonRow& poison) {
  // Confirming a dead-lettered row takes its transaction's commit.
  if (!tracker_.TransactionOpen()) throw PoisonEventError(poison);
  if (skipping_) return;  // exactly-once: dead-lettered in a committed Kafka transaction already
  DeadLetter(poison, NextTag());
}

std::uint64_t Relay::NextTag() {
  const std::uint64_t index = transaction_events_++;
  if (transactional_ != nullptr) {
    // librdkafka refuses records for a failed transaction; abort it and read again from the
    // watermark rather than stop.
    if (batch_.failed) {
      throw RetryFromWatermark("a record of the open Kafka transaction failed; aborting it and re-reading from " +
                               tracker_.Watermark().ToString());
    }
    if (!batch_.open) {
      transactional_->BeginTransaction();
      batch_.open = true;
    }
    ++batch_.events;
    // The Kafka transaction's commit confirms; a report's tag only has to locate a refused
    // record when its source transaction is read again.
    return index;
  }
  tracker_.AddEvent();
  return transaction_;
}

void Relay::DeadLetter(const outbox::PoisonRow& poison, std::uint64_t tag) {
  if (config_.on_poison == config::PoisonPolicy::kFail) throw PoisonEventError(poison);
  Log().warn("dead-lettering poison row: {}; to topic {}", poison.Describe(), config_.dead_letter.topic);
  in_flight_bytes_ += sink_->PublishDeadLetter(config_.dead_letter.topic, poison, tag);
  ++in_flight_events_;
}

void Relay::Apply(TransactionAssembler::Step& step) {
  if (const auto* begin = std::get_if<TransactionAssembler::BeginStep>(&step)) {
    transaction_ = tracker_.Begin();
    transaction_commit_lsn_ = begin->commit_lsn;
    transaction_commit_time_ = begin->commit_time;
    transaction_events_ = 0;
    // Commit LSNs grow with commit order, so everything at or below the checkpoint is in Kafka.
    skipping_ = checkpoint_ && begin->commit_lsn <= *checkpoint_;
  } else if (auto* event = std::get_if<TransactionAssembler::EventStep>(&step)) {
    if (skipping_) return;
    const bool refused_before = !refused_.empty() && refused_.contains({transaction_commit_lsn_, transaction_events_});
    const std::uint64_t tag = NextTag();
    if (refused_before) {
      DeadLetter(RefusedEvent(event->event, "Kafka refused the record as too large for topic " + event->event.topic +
                                                " (its max.message.bytes), which aborted the Kafka transaction"),
                 tag);
      return;
    }
    try {
      in_flight_bytes_ += sink_->Publish(event->event, tag);
    } catch (const sinks::RecordTooLargeError& error) {
      DeadLetter(RefusedEvent(event->event, error.what()), tag);
      return;
    }
    ++in_flight_events_;
  } else if (const auto* commit = std::get_if<TransactionAssembler::CommitStep>(&step)) {
    if (batch_.open && !skipping_) {
      // Confirmed only when the Kafka transaction holding it commits.
      tracker_.AddEvent();
      if (batch_.transactions.empty()) batch_.first_commit = clock_.Now();
      batch_.transactions.push_back(transaction_);
      batch_.last_commit_lsn = transaction_commit_lsn_;
    }
    if (transaction_events_ > 0) metrics_.transaction_events.Observe(static_cast<double>(transaction_events_));
    metrics_.received_lsn.Set(static_cast<double>(commit->end_lsn.Value()));
    // Heartbeat-only transactions would flatter the commit-to-ack latency of events.
    tracker_.Commit(commit->end_lsn, transaction_events_ > 0 ? transaction_commit_time_ : 0);
  }
}

bool Relay::BatchDue() const {
  if (!batch_.open || tracker_.TransactionOpen() || batch_.transactions.empty()) return false;
  return batch_.events >= config_.exactly_once.max_batch_events ||
         clock_.Now() >= batch_.first_commit + config_.exactly_once.max_batch;
}

Clock::TimePoint Relay::BatchDeadline() const {
  if (!batch_.open || tracker_.TransactionOpen() || batch_.transactions.empty()) {
    return Clock::TimePoint::max();
  }
  return batch_.first_commit + config_.exactly_once.max_batch;
}

awaitable<void> Relay::StartTransactions() {
  co_await transactional_->InitTransactions();
  if (auto text = co_await transactional_->ReadCheckpoint()) {
    checkpoint_ = Lsn::Parse(*text);
    if (!checkpoint_) throw sinks::SinkError("checkpoint commit_lsn \"" + *text + "\" is not an LSN");
    Log().info("transactions with commit LSN at or below {} are already in Kafka; skipping them",
               checkpoint_->ToString());
  }
  transactions_ready_ = true;
}

awaitable<void> Relay::CommitBatch() {
  // The commit flushes the transaction's records, so reports keep arriving into batch_ until it
  // returns; nothing is added meanwhile, since reading waits for the commit.
  auto aborted = co_await transactional_->CommitTransaction(batch_.last_commit_lsn.ToString());
  Batch batch = std::exchange(batch_, Batch{});
  if (aborted) {
    metrics_.DeliveryErrors("transaction_aborted").Increment();
    // The events are gone from this process; the server sends them again from the watermark.
    throw RetryFromWatermark("Kafka transaction aborted (" + *aborted + "); re-reading from " +
                             tracker_.Watermark().ToString());
  }
  for (const auto& [topic, counts] : batch.published) {
    metrics_.EventsPublished(topic).Increment(static_cast<double>(counts.first));
    metrics_.BytesPublished(topic).Increment(static_cast<double>(counts.second));
  }
  for (const auto& [reason, count] : batch.dead_lettered) {
    metrics_.DeadLettered(reason).Increment(static_cast<double>(count));
  }
  // Refusals up to this commit are settled: their rows are in the dead-letter topic.
  refused_.erase(refused_.begin(), refused_.upper_bound({batch.last_commit_lsn, std::numeric_limits<std::uint64_t>::max()}));
  for (const auto id : batch.transactions) tracker_.Delivered(id);
  checkpoint_ = batch.last_commit_lsn;
  sink_delivered_ = true;
  ConfirmSoon();
}

awaitable<void> Relay::AbandonBatch() {
  batch_ = Batch{};
  co_await transactional_->AbortTransaction();
  Log().info("aborted the open Kafka transaction; its events are re-read from {}",
             tracker_.Watermark().ToString());
}

awaitable<void> Relay::SendStatusUpdates(std::uint64_t connection) {
  try {
    while (connection == connection_) {
      co_await status_wakeup_->WaitUntil(clock_.Now() + config_.source.status_interval);
      if (connection != connection_) break;
      last_status_ = clock_.Now();
      TakeOrThrow(co_await stream_->SendStatus(received_, tracker_.Watermark()));
      metrics_.acknowledged_lsn.Set(static_cast<double>(tracker_.Watermark().Value()));
    }
  } catch (const pg::ReplicationError& error) {
    // The reading side sees the same broken connection and reconnects.
    Log().debug("status update failed: {}", error.what());
  }
}

}  // namespace outbox_relay::pipeline
