#include "relay/pipeline/ack_tracker.hpp"

#include <algorithm>
#include <cstdlib>

#include "base/logging.hpp"

namespace outbox_relay::pipeline {

namespace {

[[noreturn]] void InvariantBroken(const std::string& what) {
  base::Logger("relay").critical("ack tracker invariant broken: {}; stopping without confirming", what);
  std::abort();
}

}  // namespace

AckTracker::AckTracker(Lsn confirmed) : watermark_(confirmed), last_commit_(confirmed) {}

AckTracker::TransactionId AckTracker::Begin() {
  if (open_) InvariantBroken("Begin while a transaction is open");
  open_ = true;
  transactions_.push_back({});
  return front_id_ + transactions_.size() - 1;
}

void AckTracker::AddEvent() {
  if (!open_) InvariantBroken("event outside a transaction");
  ++transactions_.back().pending;
  ++in_flight_events_;
}

void AckTracker::Commit(Lsn end_lsn, PgTimestamp commit_time) {
  if (!open_) InvariantBroken("Commit without Begin");
  // Confirming is by commit position; a commit at or before the last one would confirm data
  // twice or skip it.
  if (end_lsn <= last_commit_) {
    InvariantBroken("commit " + end_lsn.ToString() + " not after " + last_commit_.ToString());
  }
  open_ = false;
  last_commit_ = end_lsn;
  auto& transaction = transactions_.back();
  transaction.end_lsn = end_lsn;
  transaction.commit_time = commit_time;
  transaction.committed = true;
  Advance();
}

void AckTracker::Delivered(TransactionId id) {
  auto& transaction = Find(id);
  if (transaction.pending == 0) InvariantBroken("more reports than events");
  --transaction.pending;
  --in_flight_events_;
  Advance();
}

void AckTracker::OnKeepalive(Lsn wal_end) {
  if (open_ || !transactions_.empty()) return;
  RaiseTo(wal_end);
}

void AckTracker::RaiseTo(Lsn confirmed) {
  if (confirmed > watermark_) watermark_ = confirmed;
  if (confirmed > last_commit_) last_commit_ = confirmed;
}

void AckTracker::Rewind() {
  front_id_ += transactions_.size();
  transactions_.clear();
  in_flight_events_ = 0;
  open_ = false;
  last_commit_ = watermark_;
}

AckTracker::Transaction& AckTracker::Find(TransactionId id) {
  if (id < front_id_ || id - front_id_ >= transactions_.size()) {
    InvariantBroken("report for unknown transaction " + std::to_string(id));
  }
  return transactions_[id - front_id_];
}

void AckTracker::Advance() {
  while (!transactions_.empty() && transactions_.front().committed && transactions_.front().pending == 0) {
    // RaiseTo may already have moved past a commit that was still in flight; the slot stands
    // there, so confirming less would go backwards.
    watermark_ = std::max(watermark_, transactions_.front().end_lsn);
    if (on_confirmable_) on_confirmable_(transactions_.front().end_lsn, transactions_.front().commit_time);
    transactions_.pop_front();
    ++front_id_;
  }
}

}  // namespace outbox_relay::pipeline
