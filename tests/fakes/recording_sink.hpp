#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"
#include "relay/pipeline/clock.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::fakes {

/// One record as the sink was handed it.
struct SentRecord {
  std::string id;     // the event's id (the poison row's for a dead-letter record)
  std::string topic;
  std::string key;
  std::uint64_t tag = 0;
  std::size_t bytes = 0;
  std::optional<outbox::PoisonReason> dead_letter;
  std::string commit_lsn;
};

/// What Kafka holds, shared by every producer a test makes (a replaced sink, the relay after a
/// crash): the records a read_committed consumer sees, in the order Kafka took them, and the
/// exactly-once checkpoint. The oracle of the relay tests.
class FakeKafka {
 public:
  std::vector<SentRecord> records;
  std::optional<std::string> checkpoint;
  std::size_t transactional_producers = 0;  // InitTransactions calls; the newest one owns the id

  /// Event ids seen by a consumer of the event topics (dead-letter records left out).
  std::vector<std::string> EventIds() const;
  /// Ids of dead-letter records.
  std::vector<std::string> DeadLetterIds() const;
  /// How many times a consumer sees event `id`.
  std::size_t Count(const std::string& id) const;
  /// Ids of `committed` that no consumer sees, and how many records are seen more than once.
  std::vector<std::string> Lost(const std::vector<std::string>& committed) const;
  std::size_t Duplicates() const;
};

/// A Sink that records what it is handed and reports on command: acknowledgements in any
/// order, refusals, time-outs, too-large records, a fatal failure (fenced). With auto-ack on,
/// each record is acknowledged on the io_context right after it is published. Reports given
/// on command are delivered at once, from the caller (the test, on the io_context's thread).
class RecordingSink : public sinks::Sink {
 public:
  RecordingSink(boost::asio::io_context& io, FakeKafka& kafka);
  ~RecordingSink() override;

  void SetHandlers(Handlers handlers) override { handlers_ = std::move(handlers); }
  std::size_t Publish(const outbox::OutboxEvent& event, std::uint64_t tag) override;
  std::size_t PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                std::uint64_t tag) override;
  bool Connected() const override { return connected_; }

  // ---- commands ----
  void SetAutoAck(bool on) { auto_ack_ = on; }
  void SetConnected(bool connected) { connected_ = connected; }
  /// Publish of event `id` throws RecordTooLargeError (over the producer's own limit).
  void TooLargeAtPublish(const std::string& id) { too_large_at_publish_.insert(id); }
  /// Publish and PublishDeadLetter throw SinkError(message, retryable) from now on (nullopt: stop).
  void FailPublish(std::optional<std::string> message, bool retryable = true);
  /// Records handed over and not reported yet, oldest first.
  const std::vector<SentRecord>& Unreported() const { return unreported_; }
  std::size_t UnreportedCount() const { return unreported_.size(); }
  /// Kafka took the record at `index` of Unreported(): a consumer sees it, and its report says so.
  void Ack(std::size_t index = 0);
  void AckAll();
  /// Kafka refused it for good (not retriable).
  void Refuse(std::size_t index, const std::string& error = "Broker: Topic authorization failed");
  /// Kafka refused it as too large; the report carries it as a poison row.
  void RefuseTooLarge(std::size_t index);
  /// The producer gave up waiting (message.timeout.ms): it may be in Kafka (`persisted`) or not.
  void TimeOut(std::size_t index, bool persisted = false);
  /// A fatal producer error (fenced): the sink delivers nothing more and reports nothing more.
  void Fail(const std::string& reason = "Broker: Producer fenced (scripted)");
  /// The process died: unreported records reach Kafka (`persisted`) or not; no reports.
  void Crash(bool persisted = false);
  /// Every record ever handed over, in order.
  const std::vector<SentRecord>& Sent() const { return sent_; }

 protected:
  // Hands the report of `record` to the relay; `outcome` says what happened.
  void Report(const SentRecord& record, sinks::DeliveryOutcome outcome);
  SentRecord Take(std::size_t index);
  // Where a delivered record goes: straight into Kafka here, into the open transaction there.
  virtual void Persist(const SentRecord& record);
  std::size_t Hand(SentRecord record);

  boost::asio::io_context& io_;
  FakeKafka& kafka_;
  Handlers handlers_;
  std::vector<SentRecord> unreported_;
  std::vector<SentRecord> sent_;
  bool auto_ack_ = false;
  bool connected_ = true;
  bool failed_ = false;
  bool failed_since_begin_ = false;  // a record was refused or given up on (the transactional variant aborts)
  std::set<std::string> too_large_at_publish_;
  std::optional<std::pair<std::string, bool>> publish_failure_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for posted auto-acks
};

/// The transactional variant: records of an open transaction reach Kafka only when it commits,
/// together with the checkpoint. Commits and aborts happen as scripted: commit (default),
/// abort with a reason, fenced (SinkBrokenError), or held until released (a slow commit, or a
/// crash in between). InitTransactions fences every older transactional producer of `kafka`.
class RecordingTransactionalSink final : public sinks::TransactionalSink {
 public:
  RecordingTransactionalSink(boost::asio::io_context& io, FakeKafka& kafka, pipeline::Clock& clock);
  ~RecordingTransactionalSink() override;

  void SetHandlers(Handlers handlers) override { inner_.SetHandlers(std::move(handlers)); }
  std::size_t Publish(const outbox::OutboxEvent& event, std::uint64_t tag) override;
  std::size_t PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                std::uint64_t tag) override;
  bool Connected() const override { return inner_.Connected(); }

  boost::asio::awaitable<void> InitTransactions() override;
  boost::asio::awaitable<std::optional<std::string>> ReadCheckpoint() override;
  void BeginTransaction() override;
  boost::asio::awaitable<std::optional<std::string>> CommitTransaction(const std::string& commit_lsn) override;
  boost::asio::awaitable<void> AbortTransaction() override;

  /// The reports and failures of the records, as for RecordingSink.
  RecordingSink& Records() { return inner_; }

  // ---- commands ----
  /// The next commit aborts instead (an abortable error), returning `reason`.
  void AbortNextCommit(const std::string& reason = "Broker: Transaction aborted (scripted)") {
    abort_next_ = reason;
  }
  /// The next commit throws SinkBrokenError (fenced, or an outcome that stays unknown).
  void BreakNextCommit(const std::string& reason = "Broker: Producer fenced (scripted)") { break_next_ = reason; }
  /// Commits wait until ReleaseCommits().
  void HoldCommits() { hold_ = true; }
  void ReleaseCommits();
  bool CommitWaiting() const { return commit_waiting_; }
  /// InitTransactions throws SinkError (retryable) once.
  void FailInitOnce(const std::string& reason) { init_failure_ = reason; }

  // ---- what happened ----
  std::size_t Begins() const { return begins_; }
  std::size_t Commits() const { return commits_; }
  std::size_t Aborts() const { return aborts_; }
  bool TransactionOpen() const { return open_; }
  /// Commit LSNs of the checkpoints committed, in order.
  const std::vector<std::string>& Checkpoints() const { return checkpoints_; }

 private:
  // Records delivered within the open transaction wait here for its commit.
  class Inner final : public RecordingSink {
   public:
    using RecordingSink::RecordingSink;
    std::vector<SentRecord> staged;
    using RecordingSink::failed_since_begin_;
    using RecordingSink::Report;
    using RecordingSink::Take;

   protected:
    void Persist(const SentRecord& record) override { staged.push_back(record); }
  };

  bool Fenced() const;

  Inner inner_;
  FakeKafka& kafka_;
  std::unique_ptr<pipeline::Timer> gate_;
  std::size_t epoch_ = 0;  // this producer's place among kafka_.transactional_producers
  bool open_ = false;
  bool hold_ = false;
  bool commit_waiting_ = false;
  std::optional<std::string> abort_next_;
  std::optional<std::string> break_next_;
  std::optional<std::string> init_failure_;
  std::size_t begins_ = 0;
  std::size_t commits_ = 0;
  std::size_t aborts_ = 0;
  std::vector<std::string> checkpoints_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace outbox_relay::fakes
