#include "relay/pipeline/transactional_delivery.hpp"

#include <limits>
#include <variant>

#include "base/logging.hpp"
#include "base/overloaded.hpp"

namespace outbox_relay::pipeline {

namespace {

using boost::asio::awaitable;

}  // namespace

TransactionalDelivery::TransactionalDelivery(const DeliveryContext& context,
                                             std::unique_ptr<sinks::TransactionalSink> sink,
                                             TransactionalSinkFactory new_sink)
    // Braces: `sink.get()` is read before `sink` moves into the base.
    : TransactionalDelivery{context, sink.get(), std::move(sink), std::move(new_sink)} {}

TransactionalDelivery::TransactionalDelivery(const DeliveryContext& context, sinks::TransactionalSink* first,
                                             std::unique_ptr<sinks::TransactionalSink> sink,
                                             TransactionalSinkFactory new_sink)
    // The base holds the sink; this strategy keeps its transactional face, for each new one too.
    : SinkDelivery(context, std::move(sink),
                   [this, new_sink = std::move(new_sink)]() -> std::unique_ptr<sinks::Sink> {
                     auto replacement = new_sink();
                     transactional_ = replacement.get();
                     return replacement;
                   }),
      transactional_(first) {}

void TransactionalDelivery::OnInstalled(sinks::Sink&) { ready_ = false; }

awaitable<base::Result<void>> TransactionalDelivery::Prepare() {
  if (ready_) co_return boost::outcome_v2::success();
  std::optional<std::string> text;
  try {
    co_await transactional_->InitTransactions();
    text = co_await transactional_->ReadCheckpoint();
  } catch (const sinks::SinkError&) {
    co_return CaughtSinkError();
  }
  if (text) {
    checkpoint_ = Lsn::Parse(*text);
    if (!checkpoint_) co_return base::Error::Fatal("checkpoint commit_lsn \"" + *text + "\" is not an LSN");
    base::RelayLog().info("transactions with commit LSN at or below {} are already in Kafka; skipping them",
                          checkpoint_->ToString());
  }
  ready_ = true;
  co_return boost::outcome_v2::success();
}

void TransactionalDelivery::Begin(const SourceTransaction& transaction) {
  // Commit LSNs grow with commit order, so everything at or below the checkpoint is in Kafka.
  skipping_ = checkpoint_ && transaction.commit_lsn <= *checkpoint_;
}

base::Result<std::uint64_t> TransactionalDelivery::NextTag(SourceTransaction& transaction) {
  const std::uint64_t index = transaction.events++;
  // librdkafka refuses records for a failed transaction; abort it and read again from the
  // watermark rather than stop.
  if (batch_.failed) {
    return base::Error::Retryable(
        "a record of the open Kafka transaction failed; aborting it and re-reading from " +
        tracker_.Watermark().ToString());
  }
  if (!batch_.open) {
    try {
      transactional_->BeginTransaction();
    } catch (const sinks::SinkError&) {
      return CaughtSinkError();
    }
    batch_.open = true;
  }
  ++batch_.events;
  // The Kafka transaction's commit confirms; a report's tag only has to locate a refused
  // record when its source transaction is read again.
  return index;
}

base::Result<void> TransactionalDelivery::Publish(SourceTransaction& transaction,
                                                  const outbox::OutboxEvent& event) {
  if (skipping_) return boost::outcome_v2::success();
  const bool refused_before = !refused_.empty() && refused_.contains({transaction.commit_lsn, transaction.events});
  const auto tag = NextTag(transaction);
  if (!tag) return tag.error();
  if (refused_before) {
    return DeadLetter(RefusedEvent(event, "Kafka refused the record as too large for topic " + event.topic +
                                              " (its max.message.bytes), which aborted the Kafka transaction"),
                      tag.value());
  }
  return PublishEvent(event, tag.value());
}

base::Result<void> TransactionalDelivery::PublishPoison(SourceTransaction& transaction,
                                                        const outbox::PoisonRow& poison) {
  if (skipping_) return boost::outcome_v2::success();  // dead-lettered in a committed Kafka transaction already
  const auto tag = NextTag(transaction);
  if (!tag) return tag.error();
  return DeadLetter(poison, tag.value());
}

void TransactionalDelivery::Commit(const SourceTransaction& transaction) {
  if (!batch_.open || skipping_) return;
  // Confirmed only when the Kafka transaction holding it commits.
  tracker_.AddEvent();
  if (batch_.transactions.empty()) batch_.first_commit = clock_.Now();
  batch_.transactions.push_back(transaction.id);
  batch_.last_commit_lsn = transaction.commit_lsn;
}

bool TransactionalDelivery::FlushDue() const {
  if (!batch_.open || tracker_.TransactionOpen() || batch_.transactions.empty()) return false;
  return batch_.events >= config_.exactly_once.max_batch_events ||
         clock_.Now() >= batch_.first_commit + config_.exactly_once.max_batch;
}

Clock::TimePoint TransactionalDelivery::FlushDeadline() const {
  if (!batch_.open || tracker_.TransactionOpen() || batch_.transactions.empty()) return Clock::TimePoint::max();
  return batch_.first_commit + config_.exactly_once.max_batch;
}

awaitable<base::Result<void>> TransactionalDelivery::Flush() {
  // The commit flushes the transaction's records, so reports keep arriving into batch_ until it
  // returns; nothing is added meanwhile, since reading waits for the commit.
  std::optional<std::string> aborted;
  try {
    aborted = co_await transactional_->CommitTransaction(batch_.last_commit_lsn.ToString());
  } catch (const sinks::SinkError&) {
    co_return CaughtSinkError();
  }
  Batch batch = std::exchange(batch_, Batch{});
  if (aborted) {
    metrics_.DeliveryErrors("transaction_aborted").Increment();
    // The events are gone from this process; the server sends them again from the watermark.
    co_return base::Error::Retryable("Kafka transaction aborted (" + *aborted + "); re-reading from " +
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
  refused_.erase(refused_.begin(),
                 refused_.upper_bound({batch.last_commit_lsn, std::numeric_limits<std::uint64_t>::max()}));
  for (const auto id : batch.transactions) tracker_.Delivered(id);
  checkpoint_ = batch.last_commit_lsn;
  delivered_ = true;
  listener_.OnConfirmable();
  co_return boost::outcome_v2::success();
}

awaitable<base::Result<void>> TransactionalDelivery::Abandon() {
  batch_ = Batch{};
  try {
    co_await transactional_->AbortTransaction();
  } catch (const sinks::SinkError&) {
    co_return CaughtSinkError();
  }
  base::RelayLog().info("aborted the open Kafka transaction; its events are re-read from {}",
                        tracker_.Watermark().ToString());
  co_return boost::outcome_v2::success();
}

awaitable<base::Result<void>> TransactionalDelivery::Recover() {
  if (batch_.open && !broken()) {
    auto abandoned = co_await Abandon();
    // A broken sink is replaced below; any other failure to abort stops the relay.
    if (!abandoned && !broken()) co_return base::Error::Fatal(abandoned.error().message);
  }
  auto replaced = ReplaceBrokenSink();
  // Reports of the aborted transaction that arrived after its commit attempt began.
  batch_ = Batch{};
  co_return replaced;
}

awaitable<void> TransactionalDelivery::Close(bool commit) {
  if (!batch_.open) co_return;
  // Commit what is complete; a half-received source transaction is re-read on restart.
  base::Result<void> settled = boost::outcome_v2::success();
  if (commit && !batch_.transactions.empty()) {
    settled = co_await Flush();
  } else {
    settled = co_await Abandon();
  }
  if (!settled)
    base::RelayLog().warn("open Kafka transaction not committed at shutdown: {}", settled.error().message);
}

void TransactionalDelivery::Settle(const sinks::DeliveryReport& report) {
  // Delivered is not committed: the Kafka transaction's commit confirms, and a failed event
  // makes that commit fail (abort, re-read from the watermark). One line per failed event
  // would flood the log after an abort; the commit result names the cause.
  const auto failed = [&](const std::string& error) {
    batch_.failed = true;
    base::RelayLog().debug("event in the open Kafka transaction failed: {}", error);
  };
  std::visit(
      base::Overloaded{
          [&](const sinks::Delivered& delivered) {
            if (report.dead_letter) {
              ++batch_.dead_lettered[*report.dead_letter];
              return;
            }
            auto& [events, bytes] = batch_.published[std::string(delivered.topic)];
            ++events;
            bytes += report.bytes;
          },
          // A dead-letter record Kafka refused would be refused again; one withdrawn by the
          // abort, or timed out, is written again with its transaction.
          [&](const sinks::Refused& refused) {
            if (report.dead_letter) {
              listener_.OnFatal("dead-letter write failed (" + refused.error + "); check dead_letter.topic");
              return;
            }
            failed(refused.error);
          },
          [&](const sinks::RefusedAsPoison& refused) {
            const auto commit = Lsn::Parse(refused.row.commit_lsn);
            if (config_.on_poison == config::PoisonPolicy::kFail || !commit) {
              listener_.OnFatal(PoisonFailure(refused.row, config_.on_poison));
              return;
            }
            refused_.emplace(*commit, report.tag);
            failed(refused.error);
          },
          [&](const sinks::GaveUp& gave_up) { failed(gave_up.error); },
          // Withdrawn by the abort of the batch: whatever caused the abort was reported already.
          [&](const sinks::Withdrawn& withdrawn) {
            base::RelayLog().debug("event in the open Kafka transaction withdrawn: {}", withdrawn.error);
          },
      },
      report.outcome);
}

}  // namespace outbox_relay::pipeline
