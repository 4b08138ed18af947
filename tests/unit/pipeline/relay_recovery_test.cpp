// The Relay across failures on fakes: crashes at every step of a transaction, lost
// connections, time-outs of deliveries, a fenced producer. Nothing committed may be lost; in
// exactly-once mode a read_committed consumer sees nothing twice.

#include <chrono>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "tests/unit/pipeline/relay_fixture.hpp"

namespace outbox_relay::pipeline {
namespace {

using namespace std::chrono_literals;

class RelayRecoveryTest : public RelayTest {
 protected:
  // Restarts after a crash and runs until everything committed was confirmed.
  void RestartAndFinish() {
    RelayProcess& after = StartRelay(/*auto_ack=*/true);
    ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }))
        << "confirmed " << server_.Confirmed().ToString() << " of " << server_.WalEnd().ToString();
    EXPECT_FALSE(after.exit_code.has_value());
  }
};

// ---- crash and restart at every step of a transaction -----------------------------------------

// (mode, how many messages of the second transaction are read before the crash, whether the
// read events got their acknowledgements)
class CrashAtEveryStepTest : public RelayRecoveryTest,
                             public ::testing::WithParamInterface<std::tuple<bool, std::size_t, bool>> {};

// Whatever step a relay dies at, its successor delivers every committed event; in exactly-once
// mode none twice, and in at-least-once mode only the unconfirmed transaction is repeated.
TEST_P(CrashAtEveryStepTest, RestartDeliversEverythingAndDuplicatesNothingConfirmed) {
  const auto [exactly_once, messages, acked] = GetParam();
  if (exactly_once) ExactlyOnce();
  server_.CommitEvents("t1", 2);
  server_.CommitEvents("t2", 3, "booking-2");
  // t1 whole, delivered and confirmed.
  server_.PauseAfter(server_.Transactions()[0].messages);
  RelayProcess& before = StartRelay(/*auto_ack=*/false);
  before.records->AckAll();
  Advance(config_.exactly_once.max_batch);
  PassStatusInterval();
  ASSERT_EQ(server_.Confirmed(), server_.Transactions()[0].end_lsn);
  // Then `messages` of t2's, maybe acknowledged, and the crash.
  server_.PauseAfter(messages);
  Settle();
  if (acked) before.records->AckAll();
  Settle();
  Crash(before, /*persisted=*/false);
  server_.Pause(false);
  RestartAndFinish();
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
  EXPECT_EQ(kafka_.Count("t1-0"), 1u) << "t1 was confirmed before the crash: never re-sent";
  if (exactly_once) {
    EXPECT_EQ(kafka_.Duplicates(), 0u);
  }
  EXPECT_FALSE(server_.FlushWentBackwards());
}

std::string CrashStepName(const ::testing::TestParamInfo<std::tuple<bool, std::size_t, bool>>& info) {
  const auto [exactly_once, messages, acked] = info.param;
  return std::string(exactly_once ? "ExactlyOnce" : "AtLeastOnce") + "After" + std::to_string(messages) +
         "Messages" + (acked ? "Acked" : "Unacked");
}

// t2 is Begin, Relation, three Inserts, Commit: crash after 0 to 6 of its messages.
INSTANTIATE_TEST_SUITE_P(Steps, CrashAtEveryStepTest,
                         ::testing::Combine(::testing::Bool(), ::testing::Values(0u, 1u, 2u, 3u, 5u, 6u),
                                            ::testing::Bool()),
                         CrashStepName);

// A crash after Kafka took events it never reported re-sends them: duplicates, never loss.
TEST_F(RelayRecoveryTest, CrashWithPersistedUnreportedEventsDuplicatesButLosesNothing) {
  RelayProcess& before = StartRelay();
  server_.CommitEvents("t1", 3);
  Settle();
  Crash(before, /*persisted=*/true);
  RestartAndFinish();
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
  EXPECT_EQ(kafka_.Count("t1-0"), 2u);
}

// Exactly-once: a crash while the Kafka transaction commits leaves nothing visible twice.
TEST_F(RelayRecoveryTest, ExactlyOnceCrashDuringCommitDuplicatesNothing) {
  ExactlyOnce();
  RelayProcess& before = StartRelay(/*auto_ack=*/true);
  before.transactional->HoldCommits();
  server_.CommitEvents("t1", 3);
  Advance(config_.exactly_once.max_batch);
  ASSERT_TRUE(before.transactional->CommitWaiting());
  Crash(before);
  RestartAndFinish();
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
  EXPECT_EQ(kafka_.Duplicates(), 0u);
}

// Exactly-once: a crash after the Kafka commit but before the slot was confirmed re-reads the
// transaction, and the checkpoint makes the successor skip it.
TEST_F(RelayRecoveryTest, ExactlyOnceCrashAfterCommitBeforeConfirmSkipsByCheckpoint) {
  ExactlyOnce();
  RelayProcess& before = StartRelay(/*auto_ack=*/true);
  const pg::Lsn start = server_.Confirmed();
  // The confirmation after the commit never reaches the server.
  server_.FailNext(fakes::ScriptedServer::Call::kSendStatus,
                   base::Error::Retryable("connection reset (scripted)"));
  server_.CommitEvents("t1", 3);
  Advance(config_.exactly_once.max_batch);
  ASSERT_EQ(before.transactional->Commits(), 1u);
  Crash(before);
  ASSERT_EQ(kafka_.Count("t1-0"), 1u);
  ASSERT_EQ(server_.Confirmed(), start) << "t1 is read again after the restart";
  RelayProcess& after = StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t2", 1, "booking-2");
  Advance(config_.exactly_once.max_batch);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), server_.WalEnd());
  EXPECT_EQ(kafka_.Duplicates(), 0u);
  EXPECT_EQ(kafka_.Count("t2-0"), 1u);
  EXPECT_FALSE(after.exit_code.has_value());
}

// ---- lost connections -----------------------------------------------------------------------

// A connection lost mid-transaction: the relay drains, reconnects with backoff and re-reads
// from the watermark; the half-received transaction is delivered whole.
TEST_F(RelayRecoveryTest, ConnectionLostMidTransactionRereadsFromTheWatermark) {
  StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 3, "booking-2");
  server_.DisconnectAfter(server_.Transactions()[0].messages + 3);
  Settle();
  ASSERT_EQ(server_.Connects(), 1u);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_EQ(server_.Connects(), 2u);
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
  EXPECT_EQ(kafka_.Count("t1-0"), 1u);
  EXPECT_FALSE(server_.FlushWentBackwards());
  EXPECT_EQ(Process().metrics.reconnects.Value(), 1);
}

// Reconnect attempts back off: the first retry waits source.reconnect_backoff_initial at least.
TEST_F(RelayRecoveryTest, ReconnectsAfterTheBackoff) {
  server_.FailNext(fakes::ScriptedServer::Call::kConnect, base::Error::Retryable("connection refused"));
  StartRelay();
  EXPECT_EQ(server_.Connects(), 0u);
  Advance(config_.source.reconnect_backoff_initial - 1ms);
  EXPECT_EQ(server_.Connects(), 0u);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Connects() == 1u; }, config_.source.reconnect_backoff_initial));
}

// A fatal source error (a lost slot) stops the relay with exit 1, confirming nothing.
TEST_F(RelayRecoveryTest, FatalSourceErrorStopsTheRelay) {
  server_.FailNext(fakes::ScriptedServer::Call::kEnsureSlot, base::Error::Fatal("replication slot relay is gone"));
  RelayProcess& process = StartRelay();
  ASSERT_TRUE(AdvanceUntil([&] { return process.exit_code.has_value(); }));
  EXPECT_EQ(*process.exit_code, 1);
  EXPECT_TRUE(server_.Statuses().empty());
}

// ---- a delivery that timed out -------------------------------------------------------------

// At-least-once: an event Kafka did not acknowledge in time is read again from the watermark
// (it may or may not be in Kafka; skipping it could lose it).
TEST_F(RelayRecoveryTest, TimedOutDeliveryRetriesFromTheWatermark) {
  StartRelay();
  const pg::Lsn first = server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 2, "booking-2");
  Settle();
  ASSERT_EQ(Sink().UnreportedCount(), 3u);
  Sink().Ack(0);
  Sink().TimeOut(0);  // t2-0
  Sink().Ack(0);      // t2-1
  Sink().SetAutoAck(true);
  Settle();
  EXPECT_LE(server_.Confirmed(), first);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_EQ(server_.Starts(), 2u);
  EXPECT_EQ(kafka_.Count("t2-0"), 1u);
  EXPECT_EQ(kafka_.Count("t1-0"), 1u) << "t1 was confirmed: not read again";
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
}

// ---- the sink replaced after fencing -------------------------------------------------------

// A producer that fails fatally after delivering is replaced; what it did not acknowledge is
// sent again through the new one.
TEST_F(RelayRecoveryTest, FencedSinkIsReplacedAndUnacknowledgedEventsResent) {
  RelayProcess& process = StartRelay();
  server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 2, "booking-2");
  Settle();
  process.records->Ack(0);
  process.records->Fail();
  Settle();
  ASSERT_TRUE(AdvanceUntil([&] { return process.sinks_made == 2u; }));
  process.records->SetAutoAck(true);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
  EXPECT_EQ(kafka_.Count("t1-0"), 1u);
  EXPECT_FALSE(process.exit_code.has_value());
}

// A producer failing before it delivered anything would fail again: the relay stops instead.
TEST_F(RelayRecoveryTest, SinkFailingBeforeAnyDeliveryIsFatal) {
  RelayProcess& process = StartRelay();
  server_.CommitEvents("t1", 1);
  Settle();
  process.records->Fail("Broker: Topic authorization failed (scripted)");
  ASSERT_TRUE(AdvanceUntil([&] { return process.exit_code.has_value(); }));
  EXPECT_EQ(*process.exit_code, 1);
  EXPECT_EQ(process.sinks_made, 1u);
}

// Exactly-once: a commit fenced by another producer replaces the sink, claims the id again,
// and the batch is produced once.
TEST_F(RelayRecoveryTest, ExactlyOnceFencedCommitReplacesTheSink) {
  ExactlyOnce();
  RelayProcess& process = StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  Advance(config_.exactly_once.max_batch);
  ASSERT_EQ(process.transactional->Commits(), 1u);
  process.transactional->BreakNextCommit();
  server_.CommitEvents("t2", 2, "booking-2");
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_EQ(process.sinks_made, 2u);
  EXPECT_EQ(kafka_.transactional_producers, 2u);
  EXPECT_EQ(kafka_.Duplicates(), 0u);
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
}

}  // namespace
}  // namespace outbox_relay::pipeline
