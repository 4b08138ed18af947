// The Relay's flow control, poison policy, graceful stop and standby on fakes.

#include <chrono>

#include <gtest/gtest.h>

#include "tests/unit/pipeline/relay_fixture.hpp"

namespace outbox_relay::pipeline {
namespace {

using namespace std::chrono_literals;

class RelayFlowTest : public RelayTest {};

// ---- backpressure -----------------------------------------------------------------------------

// At flow.max_in_flight_events the relay stops reading; acknowledgements let it go on.
TEST_F(RelayFlowTest, StopsReadingAtTheInFlightEventCap) {
  config_.flow.max_in_flight_events = 3;
  StartRelay();
  server_.CommitEvents("t1", 10);
  Settle();
  EXPECT_EQ(Sink().UnreportedCount(), 3u);
  EXPECT_GT(server_.Backlog(), 0u);
  Advance(5s);
  EXPECT_EQ(Sink().UnreportedCount(), 3u) << "time alone does not lift the cap";
  Sink().Ack(0);
  Settle();
  EXPECT_EQ(Sink().UnreportedCount(), 3u);
  EXPECT_EQ(Sink().Sent().size(), 4u);
  Sink().SetAutoAck(true);
  Sink().AckAll();
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_EQ(kafka_.EventIds().size(), 10u);
}

// At flow.max_in_flight_bytes the relay stops reading too.
TEST_F(RelayFlowTest, StopsReadingAtTheInFlightByteCap) {
  StartRelay();
  server_.CommitEvents("probe", 1);
  Settle();
  const std::size_t bytes = Sink().Unreported()[0].bytes;
  Sink().AckAll();
  Settle();
  config_.flow.max_in_flight_bytes = bytes * 2;
  server_.CommitEvents("t1", 6);
  Settle();
  EXPECT_EQ(Sink().UnreportedCount(), 2u);
  Sink().AckAll();
  Settle();
  EXPECT_EQ(Sink().UnreportedCount(), 2u);
  EXPECT_EQ(Sink().Sent().size(), 5u);
}

// ---- poison rows ------------------------------------------------------------------------------

// on_poison: fail stops the relay with exit 1; the poison row's transaction stays unconfirmed.
TEST_F(RelayFlowTest, PoisonRowUnderFailStopsWithoutConfirmingIt) {
  RelayProcess& process = StartRelay(/*auto_ack=*/true);
  const pg::Lsn first = server_.CommitEvents("t1", 1);
  PassStatusInterval();
  fakes::OutboxRow poison;
  poison.id = "poison";
  poison.aggregate_id = std::nullopt;
  server_.Commit({poison});
  ASSERT_TRUE(AdvanceUntil([&] { return process.exit_code.has_value(); }));
  EXPECT_EQ(*process.exit_code, 1);
  EXPECT_EQ(server_.Confirmed(), first);
  EXPECT_TRUE(kafka_.DeadLetterIds().empty());
}

// The one error line names the row and the way out, as operators and the integration tests read it.
TEST_F(RelayFlowTest, PoisonFailureLineNamesTheRowAndTheWayOut) {
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kMissingKey;
  poison.detail = "aggregate id is NULL or empty";
  poison.source = "table:outbox.outbox";
  poison.id = "7";
  poison.commit_lsn = "0/16B3748";
  EXPECT_EQ(
      PoisonFailure(poison, config::PoisonPolicy::kFail),
      "poison row: table outbox.outbox, id 7, commit LSN 0/16B3748, reason missing_key: aggregate id is NULL or "
      "empty; its transaction is not confirmed: fix the row, the table or the configuration, or set on_poison: "
      "dead-letter");
  EXPECT_NE(PoisonFailure(poison, config::PoisonPolicy::kDeadLetter).find("outside a transaction"),
            std::string::npos);
}

// on_poison: dead-letter writes the row to the dead-letter topic; its transaction is confirmed
// only once that record is acknowledged.
TEST_F(RelayFlowTest, PoisonRowIsDeadLetteredAndConfirmedAfterItsAck) {
  config_.on_poison = config::PoisonPolicy::kDeadLetter;
  RelayProcess& process = StartRelay();
  const pg::Lsn start = server_.Confirmed();
  fakes::OutboxRow good;
  good.id = "good";
  fakes::OutboxRow poison;
  poison.id = "poison";
  poison.aggregate_id = std::nullopt;
  const pg::Lsn end = server_.Commit({good, poison});
  Settle();
  ASSERT_EQ(Sink().UnreportedCount(), 2u);
  EXPECT_EQ(Sink().Unreported()[1].dead_letter, outbox::PoisonReason::kMissingKey);
  EXPECT_EQ(Sink().Unreported()[1].topic, config_.dead_letter.topic);
  Sink().Ack(0);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), start);
  Sink().Ack(0);
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), end);
  EXPECT_FALSE(process.exit_code.has_value());
}

// A dead-letter record Kafka refuses stops the relay: nothing is skipped silently.
TEST_F(RelayFlowTest, RefusedDeadLetterWriteIsFatal) {
  config_.on_poison = config::PoisonPolicy::kDeadLetter;
  RelayProcess& process = StartRelay();
  fakes::OutboxRow poison;
  poison.id = "poison";
  poison.aggregate_id = std::nullopt;
  const pg::Lsn start = server_.Confirmed();
  server_.Commit({poison});
  Settle();
  Sink().Refuse(0);
  ASSERT_TRUE(AdvanceUntil([&] { return process.exit_code.has_value(); }));
  EXPECT_EQ(*process.exit_code, 1);
  EXPECT_EQ(server_.Confirmed(), start);
}

// At-least-once: a record over the producer's limit goes to the dead-letter topic instead.
TEST_F(RelayFlowTest, TooLargeAtPublishIsDeadLettered) {
  config_.on_poison = config::PoisonPolicy::kDeadLetter;
  StartRelay(/*auto_ack=*/true);
  Sink().TooLargeAtPublish("t1-1");
  server_.CommitEvents("t1", 3);
  PassStatusInterval();
  EXPECT_EQ(kafka_.EventIds(), (std::vector<std::string>{"t1-0", "t1-2"}));
  EXPECT_EQ(kafka_.DeadLetterIds(), std::vector<std::string>{"t1-1"});
  EXPECT_EQ(server_.Confirmed(), server_.WalEnd());
}

// At-least-once: a record Kafka refuses as too large under on_poison: fail stops the relay.
TEST_F(RelayFlowTest, TooLargeReportUnderFailStops) {
  RelayProcess& process = StartRelay();
  const pg::Lsn start = server_.Confirmed();
  server_.CommitEvents("t1", 2);
  Settle();
  Sink().RefuseTooLarge(0);
  Sink().AckAll();
  ASSERT_TRUE(AdvanceUntil([&] { return process.exit_code.has_value(); }));
  EXPECT_EQ(*process.exit_code, 1);
  EXPECT_EQ(server_.Confirmed(), start);
}

// ---- graceful stop (SIGTERM) ---------------------------------------------------------------

// Stop drains what is in flight, then confirms it and ends the stream cleanly.
TEST_F(RelayFlowTest, StopDrainsInFlightEventsThenConfirms) {
  RelayProcess& process = StartRelay();
  const pg::Lsn end = server_.CommitEvents("t1", 2);
  Settle();
  process.relay->Stop();
  Advance(1s);
  EXPECT_FALSE(process.exit_code.has_value()) << "waits for the two reports";
  Sink().AckAll();
  Settle();
  ASSERT_TRUE(process.exit_code.has_value());
  EXPECT_EQ(*process.exit_code, 0);
  EXPECT_EQ(server_.Confirmed(), end);
  EXPECT_EQ(server_.Finishes(), 1u);
}

// Stop gives up draining at shutdown.timeout, confirming only what was acknowledged.
TEST_F(RelayFlowTest, StopGivesUpAtTheShutdownTimeout) {
  RelayProcess& process = StartRelay();
  const pg::Lsn first = server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 1, "booking-2");
  Settle();
  Sink().Ack(0);
  process.relay->Stop();
  Advance(config_.shutdown.timeout - 1ms);
  EXPECT_FALSE(process.exit_code.has_value());
  Advance(1ms);
  ASSERT_TRUE(process.exit_code.has_value());
  EXPECT_EQ(*process.exit_code, 0);
  EXPECT_EQ(server_.Confirmed(), first);
}

// A stop in the middle of a transaction reads on to its commit, so it is not re-sent whole.
TEST_F(RelayFlowTest, StopMidTransactionReadsOnToItsCommit) {
  RelayProcess& process = StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 3);
  server_.PauseAfter(3);  // Begin, Relation, one Insert
  Settle();
  process.relay->Stop();
  Settle();
  EXPECT_FALSE(process.exit_code.has_value());
  server_.Pause(false);
  Settle();
  ASSERT_TRUE(process.exit_code.has_value());
  EXPECT_EQ(server_.Confirmed(), server_.WalEnd());
  EXPECT_EQ(kafka_.EventIds().size(), 3u);
}

// ... but only until shutdown.timeout: then it stops, the transaction unconfirmed.
TEST_F(RelayFlowTest, StopMidTransactionGivesUpAtTheShutdownTimeout) {
  RelayProcess& process = StartRelay(/*auto_ack=*/true);
  const pg::Lsn start = server_.Confirmed();
  server_.CommitEvents("t1", 3);
  server_.PauseAfter(3);
  Settle();
  process.relay->Stop();
  Advance(config_.shutdown.timeout);
  ASSERT_TRUE(process.exit_code.has_value());
  EXPECT_EQ(*process.exit_code, 0);
  EXPECT_EQ(server_.Confirmed(), start);
}

// Exactly-once: Stop commits the open batch of complete transactions before confirming.
TEST_F(RelayFlowTest, ExactlyOnceStopCommitsTheOpenBatch) {
  ExactlyOnce();
  RelayProcess& process = StartRelay(/*auto_ack=*/true);
  const pg::Lsn end = server_.CommitEvents("t1", 2);
  Settle();
  ASSERT_EQ(process.transactional->Commits(), 0u);
  StopAndWait(process);
  ASSERT_TRUE(process.exit_code.has_value());
  EXPECT_EQ(process.transactional->Commits(), 1u);
  EXPECT_EQ(server_.Confirmed(), end);
}

// ---- standby ----------------------------------------------------------------------------------

// While another relay holds the slot this one stands by, ready to take over while its sink is
// connected (a Deployment of two is healthy), and takes over after.
TEST_F(RelayFlowTest, StandsByWhileTheSlotIsHeldElsewhere) {
  server_.HoldSlotElsewhere(true);
  RelayProcess& process = StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  Advance(config_.ha.takeover * 3);
  Relay::Readiness readiness = process.relay->CheckReadiness();
  EXPECT_EQ(readiness.role, Relay::Role::kStandby);
  EXPECT_TRUE(readiness.ready) << readiness.reason;
  EXPECT_NE(readiness.reason.find("ready to take over"), std::string::npos) << readiness.reason;
  EXPECT_EQ(process.metrics.active.Value(), 0);
  process.records->SetConnected(false);
  readiness = process.relay->CheckReadiness();
  EXPECT_FALSE(readiness.ready) << "a standby whose sink is down cannot take over";
  EXPECT_NE(readiness.reason.find("the sink is not connected"), std::string::npos) << readiness.reason;
  process.records->SetConnected(true);
  EXPECT_TRUE(kafka_.EventIds().empty());
  EXPECT_EQ(process.metrics.reconnects.Value(), 0) << "standing by is not reconnecting";
  server_.HoldSlotElsewhere(false);
  Advance(config_.ha.takeover / 2);
  readiness = process.relay->CheckReadiness();
  EXPECT_EQ(readiness.role, Relay::Role::kActive);
  EXPECT_TRUE(readiness.ready) << readiness.reason;
  EXPECT_EQ(process.metrics.active.Value(), 1);
  EXPECT_EQ(kafka_.EventIds().size(), 1u);
}

// Two relays on one slot: the second stands by until the first dies, then delivers the rest.
TEST_F(RelayFlowTest, SecondRelayTakesOverWhenTheFirstDies) {
  RelayProcess& first = StartRelay(/*auto_ack=*/true);
  RelayProcess& second = StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  Advance(config_.ha.takeover);
  EXPECT_EQ(first.relay->CheckReadiness().role, Relay::Role::kActive);
  EXPECT_EQ(second.relay->CheckReadiness().role, Relay::Role::kStandby);
  EXPECT_EQ(second.records->Sent().size(), 0u);
  Crash(first);
  server_.CommitEvents("t2", 1, "booking-2");
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }, config_.ha.takeover * 2));
  EXPECT_EQ(second.relay->CheckReadiness().role, Relay::Role::kActive);
  EXPECT_TRUE(second.relay->CheckReadiness().ready);
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
}

}  // namespace
}  // namespace outbox_relay::pipeline
