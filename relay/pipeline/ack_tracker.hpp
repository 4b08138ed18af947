#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>

#include "relay/pg/lsn.hpp"
#include "relay/pg/pgoutput.hpp"

namespace outbox_relay::pipeline {

// The pipeline counts in the source's positions and clock.
using pg::Lsn;
using pg::PgTimestamp;

/// Decides how far the replication slot may be confirmed: the end LSN of the newest
/// transaction whose events, and every earlier transaction's events, have all been delivered.
/// A watermark, never a maximum: one slow event holds back every later commit.
/// Pure and single-threaded. Broken invariants (an LSN going backwards, a report for an
/// unknown transaction) abort the process, because a relay that is unsure must not confirm.
class AckTracker {
 public:
  using TransactionId = std::uint64_t;

  /// `confirmed` is where the slot already stands; the watermark never goes below it.
  explicit AckTracker(Lsn confirmed);

  /// A transaction starts; at most one is open at a time. Returns the id that tags its events.
  TransactionId Begin();
  /// One more event of the open transaction was handed to the sink.
  void AddEvent();
  /// The open transaction is complete; `end_lsn` is the end of its commit record.
  void Commit(Lsn end_lsn, PgTimestamp commit_time = 0);
  /// Called for each transaction as the watermark passes it, with its commit time.
  void SetOnConfirmable(std::function<void(Lsn end_lsn, PgTimestamp commit_time)> observer) {
    on_confirmable_ = std::move(observer);
  }
  /// One event of transaction `id` was delivered.
  void Delivered(TransactionId id);
  /// A keepalive reported the server has sent everything up to `wal_end`. Moves the watermark
  /// there only when nothing is in flight and no transaction is open.
  void OnKeepalive(Lsn wal_end);
  /// The slot is known to stand at `confirmed` (read at connect): never confirm below it.
  void RaiseTo(Lsn confirmed);
  /// After a lost connection or an aborted Kafka transaction, once the sink has nothing in
  /// flight: forgets every transaction not yet fully delivered (the server sends them again
  /// from the watermark).
  void Rewind();

  Lsn Watermark() const { return watermark_; }
  std::size_t InFlightEvents() const { return in_flight_events_; }
  bool TransactionOpen() const { return open_; }

 private:
  struct Transaction {
    Lsn end_lsn;
    PgTimestamp commit_time = 0;
    std::uint32_t pending = 0;
    bool committed = false;
  };

  Transaction& Find(TransactionId id);
  void Advance();

  std::deque<Transaction> transactions_;
  TransactionId front_id_ = 0;  // id of transactions_.front()
  Lsn watermark_;
  Lsn last_commit_;
  std::size_t in_flight_events_ = 0;
  bool open_ = false;
  std::function<void(Lsn, PgTimestamp)> on_confirmable_;
};

}  // namespace outbox_relay::pipeline
