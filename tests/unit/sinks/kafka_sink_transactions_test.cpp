// Fault injection for the transactional KafkaSink against librdkafka's in-process mock cluster.
// The mock only serves to provoke broker errors; real-broker behaviour (read_committed hiding
// aborted records, compaction) is covered by the integration tests.

#include "sinks/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "outbox/outbox_event.hpp"
#include "tests/unit/sinks/kafka_mock_cluster.hpp"

namespace outbox_relay::sinks {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

// Kafka protocol request types (ApiKey), as rd_kafka_mock_*_request_error* take them.
constexpr std::int16_t kProduceApiKey = 0;
constexpr std::int16_t kAddPartitionsToTxnApiKey = 24;
constexpr std::int16_t kEndTxnApiKey = 26;

constexpr int kBrokerCount = 3;
constexpr char kEventTopic[] = "outbox.event.Order";
constexpr char kCheckpointTopic[] = "outbox-relay.checkpoints";
constexpr char kSlot[] = "orders_slot";
constexpr char kTransactionalId[] = "outbox-relay-orders_slot";
// Short enough that a stuck call fails the test quickly, long enough for the mock's round trips.
constexpr auto kTransactionTimeout = 10s;
// A bound on any single sink call, so a hang fails the test instead of the ctest timeout.
constexpr auto kCallLimit = 45s;
// What the sink says when a newer producer took over its transactional id.
constexpr char kFencedText[] = "fenced: a newer producer claimed this transactional id";

outbox::OutboxEvent Event(std::uint64_t tag) {
  outbox::OutboxEvent event;
  event.id = std::to_string(tag);
  event.aggregate_type = "Order";
  event.aggregate_id = "order-" + std::to_string(tag);
  event.type = "OrderCreated";
  event.payload = R"({"n": )" + std::to_string(tag) + "}";
  event.topic = kEventTopic;
  event.commit_lsn = "0/" + std::to_string(tag);
  return event;
}

std::vector<std::uint64_t> Tags(const std::vector<DeliveryReport>& reports) {
  std::vector<std::uint64_t> tags;
  for (const auto& report : reports) tags.push_back(report.tag);
  return tags;
}

class KafkaSinkTransactionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<KafkaSink> MakeSink(std::chrono::milliseconds transaction_timeout = kTransactionTimeout,
                                      std::map<std::string, std::string> properties = {}) {
    properties["bootstrap.servers"] = cluster_.Bootstraps();
    auto sink = std::make_unique<KafkaSink>(
        io_, properties,
        KafkaTransactionSettings{kTransactionalId, transaction_timeout, kCheckpointTopic, 0, kSlot});
    sink->SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); },
                       [this](const std::string& reason) { failures_.push_back(reason); }});
    return sink;
  }

  // Drives `task` by running the io_context until it completes; rethrows what it threw.
  template <typename T>
  T Run(boost::asio::awaitable<T> task) {
    // Shared with the completion handler, which may outlive this call if the task hangs.
    auto outcome = std::make_shared<Outcome<T>>();
    boost::asio::co_spawn(io_, std::move(task), [this, outcome](const std::exception_ptr& error, T value) {
      outcome->error = error;
      if (!error) outcome->value = std::move(value);
      outcome->done = true;
      io_.stop();  // the sink's wake-up wait keeps run() busy forever otherwise
    });
    Drive(outcome->done);
    if (outcome->error) std::rethrow_exception(outcome->error);
    return std::move(*outcome->value);
  }

  void Run(boost::asio::awaitable<void> task) {
    auto outcome = std::make_shared<Outcome<bool>>();
    boost::asio::co_spawn(io_, std::move(task), [this, outcome](std::exception_ptr error) {
      outcome->error = std::move(error);
      outcome->done = true;
      io_.stop();
    });
    Drive(outcome->done);
    if (outcome->error) std::rethrow_exception(outcome->error);
  }

  // Serves the sink's events (delivery reports, errors) until `done` holds or `limit` passes.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(20ms);
    }
    return done();
  }

  // Serves events for `period`, for reports that must NOT arrive.
  void RunFor(std::chrono::milliseconds period) {
    RunUntil([] { return false; }, period);
  }

  MockCluster cluster_{kBrokerCount, {{kEventTopic, 3}, {kCheckpointTopic, 1}}};
  boost::asio::io_context io_;  // outlives every sink made in a test body
  std::vector<DeliveryReport> reports_;
  std::vector<std::string> failures_;

 private:
  template <typename T>
  struct Outcome {
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };

  void Drive(const bool& done) {
    const auto deadline = std::chrono::steady_clock::now() + kCallLimit;
    while (!done) {
      if (std::chrono::steady_clock::now() >= deadline) {
        throw std::runtime_error("sink call did not complete within the test's limit (a hang)");
      }
      io_.restart();
      io_.run_for(100ms);
    }
  }
};

// A committed transaction reports each event (and not the checkpoint) through the handler and
// leaves its commit LSN as the slot's checkpoint, for this sink and for a fresh one.
TEST_F(KafkaSinkTransactionsTest, CommitDeliversEventsAndCheckpoint) {
  auto sink = MakeSink();
  Run(sink->InitTransactions());
  EXPECT_EQ(Run(sink->ReadCheckpoint()), std::nullopt);

  sink->BeginTransaction();
  for (std::uint64_t tag = 1; tag <= 3; ++tag) sink->Publish(Event(tag), tag);
  EXPECT_EQ(Run(sink->CommitTransaction("0/10")), std::nullopt);

  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= 3; })) << reports_.size() << " reports";
  RunFor(300ms);  // a report for the checkpoint record would come with the events' ones
  EXPECT_THAT(Tags(reports_), UnorderedElementsAre(1u, 2u, 3u));
  for (const auto& report : reports_) EXPECT_TRUE(report.delivered()) << report.tag;
  EXPECT_THAT(failures_, IsEmpty());

  EXPECT_THAT(Run(sink->ReadCheckpoint()), Optional(std::string("0/10")));
  auto restarted = MakeSink();
  EXPECT_THAT(Run(restarted->ReadCheckpoint()), Optional(std::string("0/10")));
}

// Events librdkafka queues while the producer is being created (here the warning that a consumer
// property is ignored) do not keep the sink from serving later ones, such as delivery reports.
TEST_F(KafkaSinkTransactionsTest, EventsQueuedAtCreationDoNotStallTheSink) {
  auto sink = MakeSink(kTransactionTimeout, {{"auto.offset.reset", "earliest"}});
  Run(sink->InitTransactions());
  sink->BeginTransaction();
  sink->Publish(Event(1), 1);
  ASSERT_TRUE(RunUntil([&] { return !reports_.empty(); })) << "no delivery report was served";
  EXPECT_EQ(Run(sink->CommitTransaction("0/15")), std::nullopt);
}

// An event the broker refuses before the commit makes the transaction abortable: CommitTransaction
// aborts and returns the reason (no throw), the events are reported undelivered, no checkpoint is
// written, and the producer then recovers.
TEST_F(KafkaSinkTransactionsTest, ProduceErrorBeforeCommitAborts) {
  // librdkafka may hold a message of the transaction after the first abort until it times out
  // (message.timeout.ms, 90% of this), so a short timeout keeps the recovery quick.
  auto sink = MakeSink(3s);
  Run(sink->InitTransactions());

  // Every Produce request fails permanently (never retried) until cleared: the checkpoint record
  // must not reach the log either, since the mock does not hide aborted records.
  std::vector<rd_kafka_resp_err_t> errors(50, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  rd_kafka_mock_push_request_errors_array(cluster_.get(), kProduceApiKey, errors.size(), errors.data());
  sink->BeginTransaction();
  sink->Publish(Event(1), 1);
  sink->Publish(Event(2), 2);
  // The relay commits well after publishing, so the failure is usually known by then.
  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= 2; })) << reports_.size() << " reports";
  const std::optional<std::string> aborted = Run(sink->CommitTransaction("0/20"));
  rd_kafka_mock_clear_request_errors(cluster_.get(), kProduceApiKey);

  ASSERT_TRUE(aborted.has_value()) << "the transaction committed despite the produce errors";
  EXPECT_THAT(*aborted, HasSubstr("Message size too large"));
  EXPECT_THAT(Tags(reports_), UnorderedElementsAre(1u, 2u));
  for (const auto& report : reports_) EXPECT_FALSE(report.delivered()) << report.tag;
  EXPECT_EQ(Run(sink->ReadCheckpoint()), std::nullopt);

  // The refused events left a gap in the partition's sequence numbers, which librdkafka repairs
  // (epoch bump) only after the next transaction fails on it: so the batch may abort once more.
  std::optional<std::string> outcome;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    sink->BeginTransaction();
    sink->Publish(Event(1), 1);
    sink->Publish(Event(2), 2);
    outcome = Run(sink->CommitTransaction("0/20"));
    if (!outcome) break;
  }
  EXPECT_EQ(outcome, std::nullopt);
  EXPECT_THAT(Run(sink->ReadCheckpoint()), Optional(std::string("0/20")));
  EXPECT_THAT(failures_, IsEmpty());
}

// An abortable error that arrives during the commit (a partition refused to the transaction)
// aborts it with the reason, and the very next transaction commits.
TEST_F(KafkaSinkTransactionsTest, AbortableErrorDuringCommitAbortsAndProducerIsReusable) {
  auto sink = MakeSink();
  Run(sink->InitTransactions());

  // Refused partitions are never produced to, so neither the events nor the checkpoint reach
  // the log; plenty of errors, cleared afterwards, cover however librdkafka batches the requests.
  std::vector<rd_kafka_resp_err_t> errors(50, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  rd_kafka_mock_push_request_errors_array(cluster_.get(), kAddPartitionsToTxnApiKey, errors.size(),
                                          errors.data());
  sink->BeginTransaction();
  sink->Publish(Event(1), 1);
  const std::optional<std::string> aborted = Run(sink->CommitTransaction("0/21"));
  rd_kafka_mock_clear_request_errors(cluster_.get(), kAddPartitionsToTxnApiKey);

  ASSERT_TRUE(aborted.has_value()) << "the transaction committed despite the refused partitions";
  EXPECT_THAT(*aborted, HasSubstr("authoriz"));
  EXPECT_EQ(Run(sink->ReadCheckpoint()), std::nullopt);

  reports_.clear();
  sink->BeginTransaction();
  sink->Publish(Event(1), 1);
  sink->Publish(Event(2), 2);
  EXPECT_EQ(Run(sink->CommitTransaction("0/22")), std::nullopt);
  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= 2; })) << reports_.size() << " reports";
  EXPECT_THAT(Tags(reports_), UnorderedElementsAre(1u, 2u));
  for (const auto& report : reports_) EXPECT_TRUE(report.delivered()) << report.tag;
  EXPECT_THAT(Run(sink->ReadCheckpoint()), Optional(std::string("0/22")));
  EXPECT_THAT(failures_, IsEmpty());
}

// Losing the transaction coordinator at commit time (it moves to another broker, which is not
// ready at first) is retried until the commit succeeds, and the checkpoint is then visible.
TEST_F(KafkaSinkTransactionsTest, CommitSurvivesCoordinatorLoss) {
  rd_kafka_mock_coordinator_set(cluster_.get(), "transaction", kTransactionalId, 1);
  auto sink = MakeSink();
  Run(sink->InitTransactions());
  sink->BeginTransaction();
  sink->Publish(Event(1), 1);
  ASSERT_TRUE(RunUntil([&] { return !reports_.empty(); }));

  rd_kafka_mock_broker_push_request_error_rtts(cluster_.get(), 2, kEndTxnApiKey, 3,
                                               RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, 0,
                                               RD_KAFKA_RESP_ERR_NOT_COORDINATOR, 0,
                                               RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, 0);
  rd_kafka_mock_coordinator_set(cluster_.get(), "transaction", kTransactionalId, 2);

  EXPECT_EQ(Run(sink->CommitTransaction("0/30")), std::nullopt);
  // Every injected error was answered, so the commit really went through all of them.
  EXPECT_EQ(cluster_.PendingErrors(2, kEndTxnApiKey), 0u);
  EXPECT_THAT(Run(sink->ReadCheckpoint()), Optional(std::string("0/30")));
  EXPECT_TRUE(reports_.front().delivered());
  EXPECT_THAT(failures_, IsEmpty());
}

// A producer fenced by a newer one with the same transactional id is broken: its next transaction
// fails with SinkBrokenError (the relay replaces the producer), saying it was fenced, and commits
// nothing.
TEST_F(KafkaSinkTransactionsTest, FencedByNewerProducerFailsFatally) {
  auto zombie = MakeSink();
  Run(zombie->InitTransactions());
  auto successor = MakeSink();
  Run(successor->InitTransactions());
  // librdkafka 2.0.2's mock hands every InitProducerId a fresh producer id instead of bumping the
  // epoch, so it never fences; inject what a real coordinator answers the zombie instead.
  rd_kafka_mock_push_request_errors(cluster_.get(), kAddPartitionsToTxnApiKey, 1,
                                    RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  rd_kafka_mock_push_request_errors(cluster_.get(), kEndTxnApiKey, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);

  std::optional<SinkBrokenError> thrown;
  try {
    zombie->BeginTransaction();
    zombie->Publish(Event(1), 1);
    const auto aborted = Run(zombie->CommitTransaction("0/40"));
    ADD_FAILURE() << "the fenced producer's transaction ended "
                  << (aborted ? "aborted: " + *aborted : std::string("committed"));
  } catch (const SinkBrokenError& error) {
    thrown = error;
  }
  RunFor(300ms);  // a fatal error event reaches the on_failure handler

  if (thrown) {
    EXPECT_FALSE(thrown->retryable()) << thrown->what();
  }
  const bool thrown_says_fenced = thrown && std::string(thrown->what()).find(kFencedText) != std::string::npos;
  bool handler_says_fenced = false;
  for (const auto& reason : failures_) handler_says_fenced |= reason.find(kFencedText) != std::string::npos;
  EXPECT_TRUE(thrown_says_fenced || handler_says_fenced)
      << "thrown: " << (thrown ? thrown->what() : "nothing") << "; on_failure calls: " << failures_.size()
      << (failures_.empty() ? "" : ", first: " + failures_.front());
  EXPECT_EQ(Run(successor->ReadCheckpoint()), std::nullopt);
}

// Once the fencing has been reported through on_failure, the zombie cannot carry on either: its
// next Publish or CommitTransaction throws SinkBrokenError.
TEST_F(KafkaSinkTransactionsTest, FencedProducerRefusesFurtherWork) {
  auto zombie = MakeSink();
  Run(zombie->InitTransactions());
  auto successor = MakeSink();
  Run(successor->InitTransactions());
  rd_kafka_mock_push_request_errors(cluster_.get(), kAddPartitionsToTxnApiKey, 1,
                                    RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
  zombie->BeginTransaction();
  zombie->Publish(Event(1), 1);
  ASSERT_TRUE(RunUntil([&] { return !failures_.empty(); })) << "on_failure was not called";
  EXPECT_THAT(failures_.front(), HasSubstr(kFencedText));

  try {
    zombie->Publish(Event(2), 2);
    Run(zombie->CommitTransaction("0/41"));
    ADD_FAILURE() << "the fenced producer went on publishing and committing";
  } catch (const SinkBrokenError& error) {
    EXPECT_FALSE(error.retryable()) << error.what();
  }
  EXPECT_EQ(Run(successor->ReadCheckpoint()), std::nullopt);
}

// With every broker down, InitTransactions gives up with a retryable SinkError rather than
// crashing or hanging.
TEST_F(KafkaSinkTransactionsTest, InitTransactionsWithAllBrokersDownIsRetryable) {
  for (std::int32_t broker = 1; broker <= kBrokerCount; ++broker) {
    rd_kafka_mock_broker_set_down(cluster_.get(), broker);
  }
  auto sink = MakeSink(2s);
  const auto started = std::chrono::steady_clock::now();
  try {
    Run(sink->InitTransactions());
    ADD_FAILURE() << "InitTransactions succeeded with every broker down";
  } catch (const SinkError& error) {
    EXPECT_TRUE(error.retryable()) << error.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
}

}  // namespace
}  // namespace outbox_relay::sinks
