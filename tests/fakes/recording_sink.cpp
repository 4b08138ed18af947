#include "tests/fakes/recording_sink.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>
#include <variant>

#include <boost/asio/post.hpp>

#include "outbox/event_encoder.hpp"

namespace outbox_relay::fakes {

namespace {

using boost::asio::awaitable;

}  // namespace

// ---- FakeKafka --------------------------------------------------------------------------------

std::vector<std::string> FakeKafka::EventIds() const {
  std::vector<std::string> ids;
  for (const auto& record : records) {
    if (!record.dead_letter) ids.push_back(record.id);
  }
  return ids;
}

std::vector<std::string> FakeKafka::DeadLetterIds() const {
  std::vector<std::string> ids;
  for (const auto& record : records) {
    if (record.dead_letter) ids.push_back(record.id);
  }
  return ids;
}

std::size_t FakeKafka::Count(const std::string& id) const {
  return static_cast<std::size_t>(std::count_if(records.begin(), records.end(), [&](const SentRecord& record) {
    return !record.dead_letter && record.id == id;
  }));
}

std::vector<std::string> FakeKafka::Lost(const std::vector<std::string>& committed) const {
  std::vector<std::string> lost;
  for (const auto& id : committed) {
    const bool dead_lettered = std::any_of(records.begin(), records.end(), [&](const SentRecord& record) {
      return record.dead_letter && record.id == id;
    });
    if (Count(id) == 0 && !dead_lettered) lost.push_back(id);
  }
  return lost;
}

std::size_t FakeKafka::Duplicates() const {
  std::map<std::string, std::size_t> seen;
  for (const auto& record : records) {
    if (!record.dead_letter) ++seen[record.id];
  }
  std::size_t duplicates = 0;
  for (const auto& [id, count] : seen) duplicates += count - 1;
  return duplicates;
}

// ---- RecordingSink ----------------------------------------------------------------------------

RecordingSink::RecordingSink(boost::asio::io_context& io, FakeKafka& kafka) : io_(io), kafka_(kafka) {}

RecordingSink::~RecordingSink() { *alive_ = false; }

std::size_t RecordingSink::Hand(SentRecord record) {
  if (publish_failure_) throw sinks::SinkError(publish_failure_->first, publish_failure_->second);
  const std::size_t bytes = record.bytes;
  sent_.push_back(record);
  unreported_.push_back(std::move(record));
  if (auto_ack_) {
    // Never from inside Publish: the report comes from the io_context, as librdkafka's do.
    boost::asio::post(io_, [this, alive = alive_] {
      if (*alive && auto_ack_ && !failed_ && !unreported_.empty()) Ack(0);
    });
  }
  return bytes;
}

std::size_t RecordingSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  if (too_large_at_publish_.contains(event.id)) {
    throw sinks::RecordTooLargeError("record of " + std::to_string(event.payload ? event.payload->size() : 0) +
                                     " bytes is over kafka.message.max.bytes (scripted)");
  }
  outbox::EncodedEvent encoded;
  outbox::EncodeEvent(event, encoded);
  SentRecord record;
  record.id = event.id;
  record.topic = event.topic;
  record.key = event.key;
  record.tag = tag;
  record.bytes = event.key.size() + (encoded.value ? encoded.value->size() : 0);
  record.commit_lsn = event.commit_lsn;
  return Hand(std::move(record));
}

std::size_t RecordingSink::PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                             std::uint64_t tag) {
  SentRecord record;
  record.id = poison.id;
  record.topic = topic;
  record.key = poison.key.value_or("");
  record.tag = tag;
  record.bytes = record.key.size() + (poison.value ? poison.value->size() : 0);
  record.dead_letter = poison.reason;
  record.commit_lsn = poison.commit_lsn;
  return Hand(std::move(record));
}

void RecordingSink::FailPublish(std::optional<std::string> message, bool retryable) {
  if (!message) {
    publish_failure_.reset();
    return;
  }
  publish_failure_.emplace(std::move(*message), retryable);
}

SentRecord RecordingSink::Take(std::size_t index) {
  if (index >= unreported_.size())
    throw std::out_of_range("RecordingSink: no unreported record " + std::to_string(index));
  SentRecord record = std::move(unreported_[index]);
  unreported_.erase(unreported_.begin() + static_cast<std::ptrdiff_t>(index));
  return record;
}

void RecordingSink::Persist(const SentRecord& record) { kafka_.records.push_back(record); }

void RecordingSink::Report(const SentRecord& record, sinks::DeliveryOutcome outcome) {
  sinks::DeliveryReport report;
  report.tag = record.tag;
  report.bytes = record.bytes;
  report.dead_letter = record.dead_letter;
  report.outcome = std::move(outcome);
  // As in Kafka, a record that failed inside a transaction dooms its commit; records withdrawn
  // by an abort change nothing more.
  if (!report.delivered() && !std::holds_alternative<sinks::Withdrawn>(report.outcome)) failed_since_begin_ = true;
  if (handlers_.on_delivery) handlers_.on_delivery(report);
}

void RecordingSink::Ack(std::size_t index) {
  const SentRecord record = Take(index);
  Persist(record);
  // The topic's view lives as long as `record`, past the handler.
  Report(record, sinks::Delivered{record.topic});
}

void RecordingSink::AckAll() {
  while (!unreported_.empty()) Ack(0);
}

void RecordingSink::Refuse(std::size_t index, const std::string& error) {
  Report(Take(index), sinks::Refused{error});
}

void RecordingSink::RefuseTooLarge(std::size_t index) {
  const SentRecord record = Take(index);
  // What KafkaSink reads back from a refused record: the event as a poison row.
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kRecordTooLarge;
  poison.detail = "Broker: Message size too large (scripted)";
  poison.id = record.id;
  poison.commit_lsn = record.commit_lsn;
  poison.topic = record.topic;
  poison.key = record.key;
  Report(record, sinks::RefusedAsPoison{poison.detail, std::move(poison)});
}

void RecordingSink::TimeOut(std::size_t index, bool persisted) {
  const SentRecord record = Take(index);
  if (persisted) Persist(record);
  Report(record, sinks::GaveUp{"Local: Message timed out (scripted)"});
}

void RecordingSink::Fail(const std::string& reason) {
  failed_ = true;
  if (handlers_.on_failure) handlers_.on_failure(reason);
}

void RecordingSink::Crash(bool persisted) {
  failed_ = true;
  auto_ack_ = false;
  if (persisted) {
    for (const auto& record : unreported_) Persist(record);
  }
  unreported_.clear();
}

// ---- RecordingTransactionalSink ------------------------------------------------------------

RecordingTransactionalSink::RecordingTransactionalSink(boost::asio::io_context& io, FakeKafka& kafka,
                                                       pipeline::Clock& clock)
    : inner_(io, kafka), kafka_(kafka), gate_(clock.MakeTimer()) {}

RecordingTransactionalSink::~RecordingTransactionalSink() { *alive_ = false; }

std::size_t RecordingTransactionalSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  if (!open_) throw std::logic_error("RecordingTransactionalSink: Publish outside a transaction");
  return inner_.Publish(event, tag);
}

std::size_t RecordingTransactionalSink::PublishDeadLetter(const std::string& topic,
                                                          const outbox::PoisonRow& poison, std::uint64_t tag) {
  if (!open_) throw std::logic_error("RecordingTransactionalSink: PublishDeadLetter outside a transaction");
  return inner_.PublishDeadLetter(topic, poison, tag);
}

awaitable<void> RecordingTransactionalSink::InitTransactions() {
  if (auto failure = std::exchange(init_failure_, std::nullopt)) throw sinks::SinkError(*failure, true);
  epoch_ = ++kafka_.transactional_producers;
  co_return;
}

awaitable<std::optional<std::string>> RecordingTransactionalSink::ReadCheckpoint() { co_return kafka_.checkpoint; }

bool RecordingTransactionalSink::Fenced() const { return epoch_ != kafka_.transactional_producers; }

void RecordingTransactionalSink::BeginTransaction() {
  if (open_) throw std::logic_error("RecordingTransactionalSink: BeginTransaction with one open");
  open_ = true;
  ++begins_;
  inner_.staged.clear();
  inner_.failed_since_begin_ = false;
}

awaitable<std::optional<std::string>> RecordingTransactionalSink::CommitTransaction(
    const std::string& commit_lsn) {
  if (!open_) throw std::logic_error("RecordingTransactionalSink: CommitTransaction without a transaction");
  const auto alive = alive_;
  if (hold_) {
    commit_waiting_ = true;
    while (*alive && hold_) co_await gate_->WaitUntil(pipeline::Clock::TimePoint::max());
    if (!*alive) co_return std::nullopt;
    commit_waiting_ = false;
  }
  // The commit flushes: what is still unreported is delivered (into the transaction) first.
  inner_.AckAll();
  open_ = false;
  if (auto reason = std::exchange(break_next_, std::nullopt)) throw sinks::SinkBrokenError(*reason);
  if (Fenced()) throw sinks::SinkBrokenError("Broker: Producer fenced by a newer instance (scripted)");
  if (inner_.failed_since_begin_ || abort_next_) {
    ++aborts_;
    inner_.staged.clear();
    co_return std::exchange(abort_next_, std::nullopt).value_or("a record of the transaction failed");
  }
  ++commits_;
  for (const auto& record : inner_.staged) kafka_.records.push_back(record);
  inner_.staged.clear();
  kafka_.checkpoint = commit_lsn;
  checkpoints_.push_back(commit_lsn);
  co_return std::nullopt;
}

awaitable<void> RecordingTransactionalSink::AbortTransaction() {
  if (open_) ++aborts_;
  open_ = false;
  // Records not reported yet are withdrawn by the abort.
  while (inner_.UnreportedCount() > 0) {
    inner_.Report(inner_.Take(0), sinks::Withdrawn{"Local: Purged in queue (transaction aborted)"});
  }
  inner_.staged.clear();
  co_return;
}

void RecordingTransactionalSink::ReleaseCommits() {
  hold_ = false;
  gate_->Cancel();
}

}  // namespace outbox_relay::fakes
