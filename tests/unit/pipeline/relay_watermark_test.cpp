// The Relay's acknowledgement rule on fakes: the slot is confirmed to the end of a transaction
// only when every event of it and of every earlier transaction was acknowledged by Kafka.

#include <chrono>

#include <gtest/gtest.h>

#include "tests/unit/pipeline/relay_fixture.hpp"

namespace outbox_relay::pipeline {
namespace {

using namespace std::chrono_literals;

class RelayWatermarkTest : public RelayTest {};

// A transaction is confirmed once all its events are acknowledged, not before.
TEST_F(RelayWatermarkTest, ConfirmsTransactionOnlyAfterEveryEventIsAcknowledged) {
  StartRelay();
  const pg::Lsn start = server_.Confirmed();
  const pg::Lsn end = server_.CommitEvents("t1", 3);
  Settle();
  ASSERT_EQ(Sink().UnreportedCount(), 3u);
  Sink().Ack(0);
  Sink().Ack(0);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), start);
  Sink().Ack(0);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), end);
  EXPECT_FALSE(server_.FlushWentBackwards());
}

// Acknowledgements of later transactions wait for the oldest one: a watermark, not a maximum.
TEST_F(RelayWatermarkTest, OutOfOrderAcksHoldTheWatermarkAtTheOldestUnacknowledgedTransaction) {
  StartRelay();
  const pg::Lsn start = server_.Confirmed();
  const pg::Lsn first = server_.CommitEvents("t1", 2);
  const pg::Lsn second = server_.CommitEvents("t2", 1, "booking-2");
  const pg::Lsn third = server_.CommitEvents("t3", 2, "booking-3");
  Settle();
  ASSERT_EQ(Sink().UnreportedCount(), 5u);
  // Newest first: t3's two events, then t2's.
  Sink().Ack(4);
  Sink().Ack(3);
  Sink().Ack(2);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), start);
  Sink().Ack(1);  // t1's second event: t1 still misses its first
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), start);
  Sink().Ack(0);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), third);
  EXPECT_LT(first, second);
}

// With the middle transaction unacknowledged, the first one is confirmed and nothing past it.
TEST_F(RelayWatermarkTest, AGapInTheMiddleConfirmsOnlyUpToTheGap) {
  StartRelay();
  const pg::Lsn first = server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 1, "booking-2");
  server_.CommitEvents("t3", 1, "booking-3");
  Settle();
  ASSERT_EQ(Sink().UnreportedCount(), 3u);
  Sink().Ack(2);
  Sink().Ack(0);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), first);
  ASSERT_EQ(Sink().UnreportedCount(), 1u);
  EXPECT_EQ(Sink().Unreported()[0].id, "t2-0");
}

// A keepalive is not confirmed while events are in flight: that is how CDC relays lose data.
TEST_F(RelayWatermarkTest, KeepaliveWithEventsInFlightDoesNotMoveTheWatermark) {
  StartRelay();
  const pg::Lsn start = server_.Confirmed();
  server_.CommitEvents("t1", 1);
  server_.Keepalive(/*reply_requested=*/true, /*skip=*/0x1000);
  Settle();
  ASSERT_FALSE(server_.Statuses().empty()) << "a keepalive asking for a reply is answered at once";
  EXPECT_EQ(server_.Statuses().back().flushed, start);
  EXPECT_EQ(server_.Statuses().back().received, server_.WalEnd());
  EXPECT_EQ(server_.Confirmed(), start);
}

// An idle relay confirms the keepalive's WAL end, so an idle outbox never pins WAL.
TEST_F(RelayWatermarkTest, KeepaliveWhenIdleConfirmsTheServersPosition) {
  StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  Settle();
  server_.Keepalive(/*reply_requested=*/false, /*skip=*/0x1000);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), server_.WalEnd());
}

// Status updates go every source.status_interval, and sooner when the watermark moves: 100 ms
// after the last one at the earliest, however many transactions were confirmed meanwhile.
TEST_F(RelayWatermarkTest, StatusUpdatesFollowTheStatusInterval) {
  StartRelay();
  EXPECT_TRUE(server_.Statuses().empty());
  Advance(config_.source.status_interval - 1ms);
  EXPECT_TRUE(server_.Statuses().empty());
  Advance(1ms);
  ASSERT_EQ(server_.Statuses().size(), 1u);
  const pg::Lsn first = server_.CommitEvents("t1", 1);
  Settle();
  Sink().AckAll();
  Settle();
  // The watermark moved, but a status went less than 100 ms ago: no update per commit...
  EXPECT_EQ(server_.Statuses().size(), 1u);
  const pg::Lsn second = server_.CommitEvents("t2", 1);
  Settle();
  Sink().AckAll();
  Settle();
  Advance(99ms);
  EXPECT_EQ(server_.Statuses().size(), 1u);
  // ...one for both, 100 ms after the last, not at the next interval.
  Advance(1ms);
  ASSERT_EQ(server_.Statuses().size(), 2u);
  EXPECT_EQ(server_.Statuses().back().flushed, second);
  EXPECT_LT(first, second);
  // Longer than that after the last update, a moved watermark is confirmed at once.
  Advance(config_.source.status_interval / 2);
  const pg::Lsn third = server_.CommitEvents("t3", 1);
  Settle();
  Sink().AckAll();
  Settle();
  ASSERT_EQ(server_.Statuses().size(), 3u);
  EXPECT_EQ(server_.Statuses().back().flushed, third);
}

// /readyz turns not ready when events stay unacknowledged longer than ready.max_lag_seconds.
TEST_F(RelayWatermarkTest, ReadinessFailsWhileAcknowledgementsStall) {
  StartRelay();
  EXPECT_TRUE(TheRelay().CheckReadiness().ready) << TheRelay().CheckReadiness().reason;
  server_.CommitEvents("t1", 1);
  Settle();
  Advance(config_.ready.max_lag - 1s);
  EXPECT_TRUE(TheRelay().CheckReadiness().ready) << TheRelay().CheckReadiness().reason;
  Advance(2s);
  EXPECT_FALSE(TheRelay().CheckReadiness().ready);
  EXPECT_NE(TheRelay().CheckReadiness().reason.find("no acknowledgement"), std::string::npos);
  Sink().AckAll();
  Settle();
  // The commit is older than max_lag too: the lag keeps it not ready until newer work arrives.
  server_.CommitEvents("t2", 1);
  Settle();
  Sink().AckAll();
  Settle();
  EXPECT_TRUE(TheRelay().CheckReadiness().ready) << TheRelay().CheckReadiness().reason;
}

}  // namespace
}  // namespace outbox_relay::pipeline
