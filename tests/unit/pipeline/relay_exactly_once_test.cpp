// Exactly-once delivery on fakes: source transactions batched into Kafka transactions (by
// size and linger), confirmed only after the Kafka commit with its checkpoint, and skipped on
// restart when at or below the checkpoint.

#include <chrono>

#include <gtest/gtest.h>

#include "tests/unit/pipeline/relay_fixture.hpp"

namespace outbox_relay::pipeline {
namespace {

using namespace std::chrono_literals;

class RelayExactlyOnceTest : public RelayTest {
 protected:
  RelayExactlyOnceTest() { ExactlyOnce(); }
};

// A batch stays open for exactly_once.max_batch after its first commit, then commits.
TEST_F(RelayExactlyOnceTest, BatchCommitsWhenTheLingerEnds) {
  StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  Settle();
  EXPECT_EQ(TransactionalSink().Begins(), 1u);
  Advance(config_.exactly_once.max_batch - 1ms);
  EXPECT_EQ(TransactionalSink().Commits(), 0u);
  server_.CommitEvents("t2", 1, "booking-2");
  Advance(1ms);
  EXPECT_EQ(TransactionalSink().Commits(), 1u);
  EXPECT_EQ(TransactionalSink().Begins(), 1u) << "both source transactions in one Kafka transaction";
  EXPECT_EQ(kafka_.EventIds().size(), 2u);
}

// A batch commits at the first source commit that brings it to max_batch_events, at once.
TEST_F(RelayExactlyOnceTest, BatchCommitsAtMaxBatchEvents) {
  config_.exactly_once.max_batch_events = 5;
  StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 3);
  Settle();
  EXPECT_EQ(TransactionalSink().Commits(), 0u);
  server_.CommitEvents("t2", 3, "booking-2");
  Settle();
  EXPECT_EQ(TransactionalSink().Commits(), 1u);
  ASSERT_EQ(TransactionalSink().Checkpoints().size(), 1u);
  EXPECT_EQ(TransactionalSink().Checkpoints()[0], server_.Transactions()[1].commit_lsn.ToString());
  server_.CommitEvents("t3", 1, "booking-3");
  Settle();
  EXPECT_EQ(TransactionalSink().Commits(), 1u) << "a new batch, under the size: waits for the linger";
}

// Acknowledged is not committed: the slot is confirmed only after the Kafka commit.
TEST_F(RelayExactlyOnceTest, ConfirmsOnlyAfterTheKafkaTransactionCommits) {
  StartRelay(/*auto_ack=*/true);
  const pg::Lsn start = server_.Confirmed();
  TransactionalSink().HoldCommits();
  const pg::Lsn end = server_.CommitEvents("t1", 2);
  Advance(config_.exactly_once.max_batch);
  ASSERT_TRUE(TransactionalSink().CommitWaiting());
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), start);
  EXPECT_TRUE(kafka_.EventIds().empty());
  TransactionalSink().ReleaseCommits();
  PassStatusInterval();
  EXPECT_EQ(server_.Confirmed(), end);
  EXPECT_EQ(kafka_.EventIds().size(), 2u);
}

// Transactions at or below the checkpoint are in Kafka already: skipped, and confirmed.
TEST_F(RelayExactlyOnceTest, SkipsTransactionsAtOrBelowTheCheckpoint) {
  server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 1, "booking-2");
  server_.CommitEvents("t3", 1, "booking-3");
  kafka_.checkpoint = server_.Transactions()[1].commit_lsn.ToString();
  StartRelay(/*auto_ack=*/true);
  Advance(config_.exactly_once.max_batch);
  PassStatusInterval();
  EXPECT_EQ(kafka_.EventIds(), std::vector<std::string>{"t3-0"});
  EXPECT_EQ(server_.Confirmed(), server_.WalEnd());
}

// The transaction just above the checkpoint is published: the skip is "at or below", exactly.
TEST_F(RelayExactlyOnceTest, PublishesTheTransactionJustAboveTheCheckpoint) {
  server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 1, "booking-2");
  kafka_.checkpoint = pg::Lsn(server_.Transactions()[1].commit_lsn.Value() - 1).ToString();
  StartRelay(/*auto_ack=*/true);
  Advance(config_.exactly_once.max_batch);
  EXPECT_EQ(kafka_.EventIds(), std::vector<std::string>{"t2-0"});
}

// An aborted Kafka transaction is produced again from the watermark, once.
TEST_F(RelayExactlyOnceTest, AbortedCommitIsProducedAgainOnce) {
  StartRelay(/*auto_ack=*/true);
  TransactionalSink().AbortNextCommit();
  server_.CommitEvents("t1", 2);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_EQ(TransactionalSink().Aborts(), 1u);
  EXPECT_EQ(TransactionalSink().Commits(), 1u);
  EXPECT_EQ(kafka_.Duplicates(), 0u);
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
  EXPECT_EQ(server_.Starts(), 2u);
}

// A record of the open transaction that timed out aborts it; it is produced again, once.
TEST_F(RelayExactlyOnceTest, FailedRecordAbortsTheTransactionAndRetries) {
  StartRelay();
  server_.CommitEvents("t1", 3);
  Settle();
  Sink().Ack(0);
  Sink().TimeOut(0);
  Sink().SetAutoAck(true);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_GE(TransactionalSink().Aborts(), 1u);
  EXPECT_EQ(kafka_.Duplicates(), 0u);
  EXPECT_TRUE(kafka_.Lost(server_.CommittedIds()).empty());
}

// A record Kafka refuses as too large aborts the transaction; when it is read again it goes to
// the dead-letter topic (on_poison: dead-letter) and the rest is produced once.
TEST_F(RelayExactlyOnceTest, TooLargeRecordIsDeadLetteredWhenReadAgain) {
  config_.on_poison = config::PoisonPolicy::kDeadLetter;
  StartRelay();
  server_.CommitEvents("t1", 3);
  Settle();
  Sink().RefuseTooLarge(1);  // t1-1
  Sink().SetAutoAck(true);
  ASSERT_TRUE(AdvanceUntil([&] { return server_.Confirmed() == server_.WalEnd(); }));
  EXPECT_EQ(kafka_.EventIds(), (std::vector<std::string>{"t1-0", "t1-2"}));
  EXPECT_EQ(kafka_.DeadLetterIds(), std::vector<std::string>{"t1-1"});
}

// Each commit's checkpoint names the commit LSN of the batch's last source transaction.
TEST_F(RelayExactlyOnceTest, CheckpointNamesTheLastSourceTransactionOfTheBatch) {
  StartRelay(/*auto_ack=*/true);
  server_.CommitEvents("t1", 1);
  server_.CommitEvents("t2", 1, "booking-2");
  Advance(config_.exactly_once.max_batch);
  server_.CommitEvents("t3", 1, "booking-3");
  Advance(config_.exactly_once.max_batch);
  EXPECT_EQ(TransactionalSink().Checkpoints(),
            (std::vector<std::string>{server_.Transactions()[1].commit_lsn.ToString(),
                                      server_.Transactions()[2].commit_lsn.ToString()}));
}

}  // namespace
}  // namespace outbox_relay::pipeline
