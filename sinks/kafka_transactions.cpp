// KafkaSink's TransactionalSink half: librdkafka's transaction calls, run on the worker thread
// because they block, and what their errors mean (fatal, fenced, abortable, retriable).

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sinks/kafka_detail.hpp"
#include "sinks/kafka_sink.hpp"

namespace outbox_relay::sinks {

namespace {

using boost::asio::awaitable;
using detail::Log;
using detail::Millis;

constexpr int kCommitAttempts = 10;

// Owns a librdkafka error object and says what kind it is.
struct TxnError {
  base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy> error;
  explicit operator bool() const { return error != nullptr; }
  std::string Text() const { return rd_kafka_error_string(error.get()); }
  bool Fatal() const { return rd_kafka_error_is_fatal(error.get()) != 0; }
  bool Retriable() const { return rd_kafka_error_is_retriable(error.get()) != 0; }
  bool RequiresAbort() const { return rd_kafka_error_txn_requires_abort(error.get()) != 0; }
};

// The producer is done for: fatal, or a transaction outcome still unknown after every attempt.
[[noreturn]] void ThrowBroken(const std::string& what, const TxnError& error) {
  throw SinkBrokenError(what + ": " + error.Text() + detail::FencedCause(rd_kafka_error_code(error.error.get())));
}

// Runs a blocking librdkafka call on the worker thread; the caller resumes on its own executor.
// An exception comes back as a value, so that the worker holds no reference to it once the
// caller has it: co_spawn would release its own on the worker, possibly last, and the count
// behind std::exception_ptr lives in uninstrumented libstdc++, so TSan would take that free for
// a race with the caller's reads.
template <typename Blocking>
auto OnWorker(boost::asio::thread_pool& worker, Blocking blocking) -> awaitable<decltype(blocking())> {
  using Result = decltype(blocking());
  struct Outcome {
    std::optional<Result> value;
    std::exception_ptr error;
  };
  Outcome outcome = co_await boost::asio::co_spawn(
      worker,
      [blocking]() -> awaitable<Outcome> {
        try {
          co_return Outcome{blocking(), nullptr};
        } catch (...) {
          co_return Outcome{std::nullopt, std::current_exception()};
        }
      },
      boost::asio::use_awaitable);
  if (outcome.error) std::rethrow_exception(std::move(outcome.error));
  co_return std::move(*outcome.value);
}

}  // namespace

std::string detail::FencedCause(rd_kafka_resp_err_t code) {
  if (ClassifyKafkaError(code) != KafkaErrorCategory::kFenced) return {};
  return " (fenced: a newer producer claimed this transactional id, or the broker aborted the "
         "transaction because it outlived exactly_once.transaction_timeout_ms)";
}

const KafkaSink::Transactional& KafkaSink::Transactions() const {
  if (!transactions_) throw SinkError("Kafka transactions used without exactly-once settings");
  return *transactions_;
}

awaitable<void> KafkaSink::InitTransactions() {
  const Transactional& transactions = Transactions();
  co_await OnWorker(worker_, [this, &transactions] {
    transactions.checkpoints.CreateTopic(producer_.get());
    TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
        rd_kafka_init_transactions(producer_.get(), Millis(transactions.settings.transaction_timeout)))};
    if (error && (error.Fatal() || !error.Retriable())) ThrowBroken("cannot initialise Kafka transactions", error);
    if (error) throw SinkError("cannot initialise Kafka transactions yet: " + error.Text(), true);
    return true;
  });
  Log().info("Kafka transactions ready (transactional.id {})", transactions.settings.transactional_id);
}

awaitable<std::optional<std::string>> KafkaSink::ReadCheckpoint() {
  const KafkaCheckpointStore& checkpoints = Transactions().checkpoints;
  auto checkpoint = co_await OnWorker(worker_, [&checkpoints] { return checkpoints.Read(); });
  Log().info("checkpoint for slot {}: {}", checkpoints.slot(), checkpoint.value_or("none"));
  co_return checkpoint;
}

void KafkaSink::BeginTransaction() {
  TxnError error{
      base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(rd_kafka_begin_transaction(producer_.get()))};
  if (error) ThrowBroken("cannot begin a Kafka transaction", error);
}

awaitable<std::optional<std::string>> KafkaSink::CommitTransaction(const std::string& commit_lsn) {
  const rd_kafka_resp_err_t error = Transactions().checkpoints.Write(producer_.get(), commit_lsn);
  if (ClassifyKafkaError(error) == KafkaErrorCategory::kInvalidState) {
    // An abortable error (an event librdkafka gave up on) already failed the transaction, which
    // then takes no more records: committing reports that error and aborts, like any other.
    auto aborted = co_await OnWorker(worker_, [this] { return CommitBlocking(); });
    if (!aborted) throw SinkError("a Kafka transaction committed without its checkpoint record");
    co_return aborted;
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) detail::ThrowNotQueued("cannot queue the checkpoint record", error);
  co_return co_await OnWorker(worker_, [this] { return CommitBlocking(); });
}

awaitable<void> KafkaSink::AbortTransaction() {
  co_await OnWorker(worker_, [this] {
    AbortBlocking();
    return true;
  });
}

void KafkaSink::AbortBlocking() {
  const int timeout = Millis(Transactions().settings.transaction_timeout);
  for (int attempt = 1;; ++attempt) {
    TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
        rd_kafka_abort_transaction(producer_.get(), timeout))};
    if (!error) return;
    if (error.Fatal() || !error.Retriable() || attempt == kCommitAttempts) {
      ThrowBroken("cannot abort the Kafka transaction", error);
    }
  }
}

std::optional<std::string> KafkaSink::CommitBlocking() {
  const int timeout = Millis(Transactions().settings.transaction_timeout);
  for (int attempt = 1;; ++attempt) {
    TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
        rd_kafka_commit_transaction(producer_.get(), timeout))};
    if (!error) return std::nullopt;
    if (error.Fatal()) ThrowBroken("Kafka transaction failed", error);
    if (error.RequiresAbort()) {
      AbortBlocking();
      return error.Text();
    }
    // A retriable outcome (for example a timeout) is ambiguous until commit succeeds:
    // librdkafka documents calling commit again.
    if (!error.Retriable() || attempt == kCommitAttempts)
      ThrowBroken("cannot commit the Kafka transaction", error);
    Log().warn("Kafka transaction commit attempt {} failed: {}; retrying", attempt, error.Text());
  }
}

}  // namespace outbox_relay::sinks
