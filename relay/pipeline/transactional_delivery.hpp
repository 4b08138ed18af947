#pragma once

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

#include "relay/pipeline/sink_delivery.hpp"

namespace outbox_relay::pipeline {

/// Exactly-once: consecutive source transactions go into one Kafka transaction (a batch) with
/// a checkpoint naming the last one's commit LSN; they count as delivered once it commits. On
/// start the checkpoint is read and transactions at or below it are skipped (they are in Kafka).
/// An aborted batch ends the attempt: the relay re-reads from the watermark.
class TransactionalDelivery final : public SinkDelivery {
 public:
  using TransactionalSinkFactory = std::function<std::unique_ptr<sinks::TransactionalSink>()>;

  TransactionalDelivery(const DeliveryContext& context, std::unique_ptr<sinks::TransactionalSink> sink,
                        TransactionalSinkFactory new_sink);

  /// Claims the transactional id (fencing the previous owner) and reads the checkpoint, once
  /// per sink.
  boost::asio::awaitable<base::Result<void>> Prepare() override;
  void Begin(const SourceTransaction& transaction) override;
  base::Result<void> Publish(SourceTransaction& transaction, const outbox::OutboxEvent& event) override;
  base::Result<void> PublishPoison(SourceTransaction& transaction, const outbox::PoisonRow& poison) override;
  void Commit(const SourceTransaction& transaction) override;
  /// The batch holds a complete source transaction and reached exactly_once.max_batch_events,
  /// or its first commit is exactly_once.max_batch old.
  bool FlushDue() const override;
  Clock::TimePoint FlushDeadline() const override;
  /// Commits the batch with its checkpoint; a retryable error when Kafka aborted it.
  boost::asio::awaitable<base::Result<void>> Flush() override;
  boost::asio::awaitable<base::Result<void>> Recover() override;
  boost::asio::awaitable<void> Close(bool commit) override;
  bool Pending() const override { return InFlightEvents() > 0 || batch_.open; }

 private:
  // The open Kafka transaction.
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

  TransactionalDelivery(const DeliveryContext& context, sinks::TransactionalSink* first,
                        std::unique_ptr<sinks::TransactionalSink> sink, TransactionalSinkFactory new_sink);
  void Settle(const sinks::DeliveryReport& report) override;
  void OnInstalled(sinks::Sink& sink) override;
  // The tag of the transaction's next event (its index in it), opening the batch if needed.
  base::Result<std::uint64_t> NextTag(SourceTransaction& transaction);
  boost::asio::awaitable<base::Result<void>> Abandon();

  sinks::TransactionalSink* transactional_;  // the sink, as what it is
  Batch batch_;
  bool ready_ = false;             // the sink claimed the id and the checkpoint is read
  bool skipping_ = false;          // the current source transaction is in Kafka already
  std::optional<Lsn> checkpoint_;  // commit LSN of the last committed Kafka transaction
  // Records Kafka refused as too large, by source commit LSN and index in their transaction.
  // Such a refusal aborts the Kafka transaction; when the server sends the source transaction
  // again, these go to the dead-letter topic instead. Pruned at each commit.
  std::set<std::pair<Lsn, std::uint64_t>> refused_;
};

}  // namespace outbox_relay::pipeline
