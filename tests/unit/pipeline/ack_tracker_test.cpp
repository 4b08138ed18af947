#include "relay/pipeline/ack_tracker.hpp"

#include <cstdint>
#include <ostream>

#include <gtest/gtest.h>

#include "relay/pg/lsn.hpp"
#include "tests/unit/support/lsn_printer.hpp"

namespace outbox_relay::pipeline {

namespace {

using TransactionId = AckTracker::TransactionId;

constexpr Lsn kConfirmed{0x50};

// Begins a transaction with `events` events handed to the sink; returns its id.
TransactionId BeginWithEvents(AckTracker& tracker, int events) {
  const TransactionId id = tracker.Begin();
  for (int i = 0; i < events; ++i) tracker.AddEvent();
  return id;
}

// A whole transaction as the stream delivers it: Begin, `events` events, Commit at `end_lsn`.
TransactionId CommittedWithEvents(AckTracker& tracker, int events, std::uint64_t end_lsn) {
  const TransactionId id = BeginWithEvents(tracker, events);
  tracker.Commit(Lsn(end_lsn));
  return id;
}

void DeliverAll(AckTracker& tracker, TransactionId id, int events) {
  for (int i = 0; i < events; ++i) tracker.Delivered(id);
}

// A fresh tracker stands where the slot stands, with nothing in flight.
TEST(AckTrackerTest, StartsAtConfirmedPosition) {
  const AckTracker tracker(kConfirmed);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
  EXPECT_EQ(tracker.InFlightEvents(), 0u);
  EXPECT_FALSE(tracker.TransactionOpen());
}

// The watermark moves only over commits whose events, and all earlier ones, are delivered.
TEST(AckTrackerTest, AdvancesOnlyOverContiguousAcks) {
  AckTracker tracker(kConfirmed);
  const TransactionId first = CommittedWithEvents(tracker, 2, 0x100);
  const TransactionId second = CommittedWithEvents(tracker, 1, 0x200);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);

  tracker.Delivered(second);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);  // the first is not done yet
  tracker.Delivered(first);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);  // half of the first is not done either
  tracker.Delivered(first);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));  // both done: straight to the second's end
}

// Reports arriving 3, 1, 2 move the watermark to 1's end, then to 3's end, never to 3's first.
TEST(AckTrackerTest, OutOfOrderReportsWaitForEarlierTransactions) {
  AckTracker tracker(kConfirmed);
  const TransactionId one = CommittedWithEvents(tracker, 1, 0x100);
  const TransactionId two = CommittedWithEvents(tracker, 1, 0x200);
  const TransactionId three = CommittedWithEvents(tracker, 1, 0x300);

  tracker.Delivered(three);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
  tracker.Delivered(one);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
  tracker.Delivered(two);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x300));
  EXPECT_EQ(tracker.InFlightEvents(), 0u);
}

// A transaction without outbox events completes the moment it commits.
TEST(AckTrackerTest, EmptyTransactionCompletesAtCommit) {
  AckTracker tracker(kConfirmed);
  CommittedWithEvents(tracker, 0, 0x100);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
}

// An empty transaction behind an undelivered one waits for it.
TEST(AckTrackerTest, EmptyTransactionWaitsBehindUndeliveredOne) {
  AckTracker tracker(kConfirmed);
  const TransactionId busy = CommittedWithEvents(tracker, 1, 0x100);
  CommittedWithEvents(tracker, 0, 0x200);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
  tracker.Delivered(busy);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
}

// A transaction still being received holds the watermark even when its events are delivered.
TEST(AckTrackerTest, OpenTransactionHoldsProgressUntilCommit) {
  AckTracker tracker(kConfirmed);
  const TransactionId open = BeginWithEvents(tracker, 2);
  DeliverAll(tracker, open, 2);
  EXPECT_TRUE(tracker.TransactionOpen());
  EXPECT_EQ(tracker.InFlightEvents(), 0u);
  tracker.OnKeepalive(Lsn(0x500));
  EXPECT_EQ(tracker.Watermark(), kConfirmed);

  tracker.Commit(Lsn(0x100));
  EXPECT_FALSE(tracker.TransactionOpen());
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
}

// An open transaction holds back a later commit's progress too.
TEST(AckTrackerTest, OpenTransactionHoldsLaterCommits) {
  AckTracker tracker(kConfirmed);
  const TransactionId first = CommittedWithEvents(tracker, 1, 0x100);
  const TransactionId open = BeginWithEvents(tracker, 1);
  tracker.Delivered(open);
  tracker.Delivered(first);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));  // the first, but not past the open one
  tracker.Commit(Lsn(0x200));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
}

// With nothing in flight and nothing open, a keepalive moves the watermark to the server's end.
TEST(AckTrackerTest, KeepaliveAdvancesWhenIdle) {
  AckTracker tracker(kConfirmed);
  tracker.OnKeepalive(Lsn(0x80));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x80));
}

// A keepalive while events are in flight leaves the watermark to the delivery reports.
TEST(AckTrackerTest, KeepaliveIgnoredWhileEventsInFlight) {
  AckTracker tracker(kConfirmed);
  const TransactionId id = CommittedWithEvents(tracker, 1, 0x100);
  tracker.OnKeepalive(Lsn(0x500));
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
  tracker.Delivered(id);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
  tracker.OnKeepalive(Lsn(0x500));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x500));
}

// A keepalive behind the watermark never moves it backwards.
TEST(AckTrackerTest, KeepaliveNeverMovesBackwards) {
  AckTracker tracker(kConfirmed);
  CommittedWithEvents(tracker, 0, 0x200);
  tracker.OnKeepalive(Lsn(0x100));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
  tracker.OnKeepalive(Lsn(0x10));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
}

// RaiseTo moves the watermark up to the slot's position but never down.
TEST(AckTrackerTest, RaiseToNeverLowers) {
  AckTracker tracker(kConfirmed);
  tracker.RaiseTo(Lsn(0x40));
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
  tracker.RaiseTo(Lsn(0x90));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x90));
  tracker.RaiseTo(Lsn(0x60));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x90));
}

// A transaction completing below a raised slot position does not pull the watermark back.
TEST(AckTrackerTest, CompletionBelowRaisedPositionKeepsWatermark) {
  AckTracker tracker(kConfirmed);
  const TransactionId id = CommittedWithEvents(tracker, 1, 0x100);
  tracker.RaiseTo(Lsn(0x200));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
  tracker.Delivered(id);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
}

// After a lost connection the partly received transaction is forgotten, and the server's
// re-sent copy with the same end LSN commits and completes normally.
TEST(AckTrackerTest, RewoundTransactionIsReceivedAgain) {
  AckTracker tracker(kConfirmed);
  const TransactionId done = CommittedWithEvents(tracker, 1, 0x100);
  tracker.Delivered(done);
  const TransactionId partial = BeginWithEvents(tracker, 2);
  DeliverAll(tracker, partial, 2);

  tracker.Rewind();
  EXPECT_FALSE(tracker.TransactionOpen());
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
  EXPECT_EQ(tracker.InFlightEvents(), 0u);

  const TransactionId resent = BeginWithEvents(tracker, 2);
  tracker.Commit(Lsn(0x200));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));  // the copy's events are not delivered yet
  DeliverAll(tracker, resent, 2);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
}

// After an aborted Kafka transaction, committed but undelivered transactions are forgotten
// too: the watermark stays, and their re-sent copies (same LSNs) are accepted again.
TEST(AckTrackerTest, RewindForgetsCommittedButUndeliveredTransactions) {
  AckTracker tracker(kConfirmed);
  CommittedWithEvents(tracker, 1, 0x100);
  CommittedWithEvents(tracker, 1, 0x200);
  tracker.Rewind();
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
  EXPECT_EQ(tracker.InFlightEvents(), 0u);
  const TransactionId resent = CommittedWithEvents(tracker, 1, 0x100);
  tracker.Delivered(resent);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
}

// An event that is never reported delivered (a failed delivery) pins the watermark before its
// transaction forever, however many later transactions finish: nothing is ever skipped.
TEST(AckTrackerTest, UndeliveredEventIsNeverSkipped) {
  AckTracker tracker(kConfirmed);
  const TransactionId first = CommittedWithEvents(tracker, 1, 0x100);
  const TransactionId failed = CommittedWithEvents(tracker, 2, 0x200);
  tracker.Delivered(first);
  tracker.Delivered(failed);  // its second event never arrives
  for (std::uint64_t end = 0x300; end <= 0x1000; end += 0x100) {
    DeliverAll(tracker, CommittedWithEvents(tracker, 3, end), 3);
  }
  tracker.OnKeepalive(Lsn(0x2000));
  EXPECT_EQ(tracker.Watermark(), Lsn(0x100));
  EXPECT_EQ(tracker.InFlightEvents(), 1u);
}

// InFlightEvents counts handed-over events not yet reported, across transactions.
TEST(AckTrackerTest, CountsInFlightEvents) {
  AckTracker tracker(kConfirmed);
  const TransactionId first = CommittedWithEvents(tracker, 3, 0x100);
  EXPECT_EQ(tracker.InFlightEvents(), 3u);
  const TransactionId second = BeginWithEvents(tracker, 2);
  EXPECT_EQ(tracker.InFlightEvents(), 5u);
  tracker.Delivered(second);
  tracker.Delivered(first);
  EXPECT_EQ(tracker.InFlightEvents(), 3u);
  DeliverAll(tracker, first, 2);
  tracker.Delivered(second);
  EXPECT_EQ(tracker.InFlightEvents(), 0u);
}

// Ids tag transactions apart, so a report for one never completes another.
TEST(AckTrackerTest, ReportsCountOnlyForTheirOwnTransaction) {
  AckTracker tracker(kConfirmed);
  const TransactionId first = CommittedWithEvents(tracker, 1, 0x100);
  const TransactionId second = CommittedWithEvents(tracker, 1, 0x200);
  EXPECT_NE(first, second);
  tracker.Delivered(second);
  EXPECT_EQ(tracker.Watermark(), kConfirmed);
}

// ---- Broken invariants abort: a relay that is unsure must not confirm ---------------------------

// A commit before the previous one means the stream went backwards.
TEST(AckTrackerDeathTest, CommitGoingBackwardsAborts) {
  AckTracker tracker(kConfirmed);
  CommittedWithEvents(tracker, 0, 0x200);
  tracker.Begin();
  EXPECT_DEATH(tracker.Commit(Lsn(0x100)), "commit 0/100 not after 0/200");
}

// A commit at the same position as the previous one would confirm it twice.
TEST(AckTrackerDeathTest, CommitAtSameLsnAborts) {
  AckTracker tracker(kConfirmed);
  CommittedWithEvents(tracker, 0, 0x200);
  tracker.Begin();
  EXPECT_DEATH(tracker.Commit(Lsn(0x200)), "commit 0/200 not after 0/200");
}

// A commit at or below where the slot already stands is going backwards as well.
TEST(AckTrackerDeathTest, CommitAtConfirmedPositionAborts) {
  AckTracker tracker(kConfirmed);
  tracker.Begin();
  EXPECT_DEATH(tracker.Commit(kConfirmed), "not after 0/50");
}

// A report for a transaction the tracker never issued aborts.
TEST(AckTrackerDeathTest, DeliveredForUnknownIdAborts) {
  AckTracker tracker(kConfirmed);
  const TransactionId id = CommittedWithEvents(tracker, 1, 0x100);
  EXPECT_DEATH(tracker.Delivered(id + 1), "unknown transaction");
}

// A report for a transaction already completed and forgotten aborts.
TEST(AckTrackerDeathTest, DeliveredForCompletedTransactionAborts) {
  AckTracker tracker(kConfirmed);
  const TransactionId id = CommittedWithEvents(tracker, 1, 0x100);
  tracker.Delivered(id);
  EXPECT_DEATH(tracker.Delivered(id), "unknown transaction");
}

// More reports than events in a still-tracked transaction aborts.
TEST(AckTrackerDeathTest, MoreReportsThanEventsAborts) {
  AckTracker tracker(kConfirmed);
  const TransactionId first = CommittedWithEvents(tracker, 1, 0x100);
  const TransactionId second = CommittedWithEvents(tracker, 1, 0x200);
  tracker.Delivered(second);
  EXPECT_DEATH(tracker.Delivered(second), "more reports than events");
  EXPECT_EQ(tracker.InFlightEvents(), 1u);
  tracker.Delivered(first);
  EXPECT_EQ(tracker.Watermark(), Lsn(0x200));
}

// Two transactions cannot be open at once.
TEST(AckTrackerDeathTest, BeginWhileOpenAborts) {
  AckTracker tracker(kConfirmed);
  tracker.Begin();
  EXPECT_DEATH(tracker.Begin(), "Begin while a transaction is open");
}

// Events and commits belong inside a transaction.
TEST(AckTrackerDeathTest, EventOrCommitOutsideTransactionAborts) {
  AckTracker tracker(kConfirmed);
  EXPECT_DEATH(tracker.AddEvent(), "event outside a transaction");
  EXPECT_DEATH(tracker.Commit(Lsn(0x100)), "Commit without Begin");
}

// A report for a transaction forgotten by Rewind means the sink was not drained first.
TEST(AckTrackerDeathTest, ReportForRewoundTransactionAborts) {
  AckTracker tracker(kConfirmed);
  const TransactionId id = BeginWithEvents(tracker, 1);
  tracker.Rewind();
  EXPECT_DEATH(tracker.Delivered(id), "unknown transaction");
}

}  // namespace
}  // namespace outbox_relay::pipeline
