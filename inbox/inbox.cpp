#include "inbox/inbox.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "inbox/inbox_log.hpp"

namespace outbox_relay::inbox {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kIdlePoll{500};
constexpr milliseconds kLagInterval{1000};
constexpr milliseconds kDeadLetterTimeout{30000};
constexpr milliseconds kBackoffSlice{50};

std::string Where(const KafkaRecord& record) {
  return fmt::format("{}/{}@{}", record.topic, record.partition, record.offset);
}

std::string Describe(const base::Error& error) {
  return error.code.empty() ? error.message : error.message + " (SQLSTATE " + error.code + ")";
}

}  // namespace

Inbox::Inbox(const config::Config& config, server::InboxMetrics& metrics)
    : config_(config), metrics_(metrics), store_(config.source, config.inbox.name) {}

Inbox::~Inbox() = default;

void Inbox::Stop() { stop_.store(true); }

bool Inbox::Ready(std::string& reason) const {
  const std::lock_guard lock(readiness_mutex_);
  reason = readiness_reason_;
  return ready_;
}

void Inbox::SetReadiness(bool ready, std::string reason) {
  {
    const std::lock_guard lock(readiness_mutex_);
    ready_ = ready;
    readiness_reason_ = std::move(reason);
  }
  metrics_.ready.Set(ready ? 1 : 0);
}

bool Inbox::Backoff(int attempt, const std::string& what) {
  const auto initial = config_.inbox.retry_backoff_initial;
  const milliseconds delay = std::min<milliseconds>(config_.inbox.retry_backoff_max,
                                                    initial * (std::int64_t{1} << std::min(attempt - 1, 20)));
  InboxLog().warn("{}; trying again in {} ms (attempt {})", what, delay.count(), attempt + 1);
  for (auto waited = milliseconds(0); waited < delay && !Stopping(); waited += kBackoffSlice) {
    std::this_thread::sleep_for(std::min<milliseconds>(kBackoffSlice, delay - waited));
  }
  return !Stopping();
}

Inbox::Outcome Inbox::CheckDatabase() {
  std::vector<std::string> functions;
  for (const auto& handler : config_.inbox.handlers) functions.push_back(handler.function);
  for (int attempt = 1;; ++attempt) {
    auto missing = store_.MissingFunctions(functions);
    if (missing) {
      if (missing.value().empty()) return Outcome::kDone;
      for (const std::string& function : missing.value()) {
        if (function == "inbox.apply_batch") {
          InboxLog().critical(
              "the database has no inbox schema (inbox.apply_batch is missing); run `outbox-relay init "
              "--inbox` or apply inbox/sql/V1__inbox.sql");
        } else {
          InboxLog().critical(
              "handler function {} of inbox.handlers does not exist in the database, or names several "
              "functions (overloads): inbox.apply() calls it by its name",
              function);
        }
      }
      return Outcome::kFatal;
    }
    const base::Error& error = missing.error();
    if (KindOfFailure(error.code) != FailureKind::kTransient) {
      InboxLog().critical("cannot use the inbox's database: {}", Describe(error));
      return Outcome::kFatal;
    }
    SetReadiness(false, "database unreachable: " + error.message);
    if (!Backoff(attempt, "cannot reach the inbox's database: " + error.message)) return Outcome::kStopped;
  }
}

std::optional<std::map<TopicPartition, std::int64_t>> Inbox::LookUpPositions(
    const std::vector<TopicPartition>& wanted) {
  std::map<TopicPartition, std::int64_t> found;
  std::vector<std::string> topics;
  for (const auto& [topic, partition] : wanted) {
    if (std::find(topics.begin(), topics.end(), topic) == topics.end()) topics.push_back(topic);
  }
  for (const std::string& topic : topics) {
    auto positions = store_.Positions(topic);
    if (!positions) {
      InboxLog().warn("cannot read the stored positions of topic {}: {}; assigning when the database answers",
                      topic, Describe(positions.error()));
      SetReadiness(false, "database unreachable: " + positions.error().message);
      return std::nullopt;
    }
    for (const auto& [partition, next] : positions.value()) found[{topic, partition}] = next;
  }
  applied_.clear();
  for (const auto& partition : wanted) {
    if (const auto it = found.find(partition); it != found.end()) applied_[partition] = it->second;
  }
  return found;
}

Inbox::Item Inbox::Prepare(KafkaRecord record) const {
  Item item;
  auto decoded = DecodeRecord(config_.inbox.format, record);
  if (auto* event = std::get_if<InboxEvent>(&decoded)) {
    item.handler = HandlerFor(config_.inbox.handlers, record.topic, event->type);
    item.event = std::move(*event);
  } else {
    item.undecodable = std::get<Undecodable>(std::move(decoded));
  }
  item.record = std::move(record);
  return item;
}

Inbox::Outcome Inbox::ApplyItems(std::vector<Item>& items) {
  const bool unhandled_fails = config_.inbox.unhandled == config::UnhandledPolicy::kFail;
  auto begin = items.begin();
  while (begin != items.end()) {
    // A run of records that can go into one transaction; the record after it needs a decision.
    const auto stop_at = std::find_if(begin, items.end(), [&](const Item& item) {
      return item.undecodable.has_value() || (item.handler == nullptr && unhandled_fails);
    });
    if (begin != stop_at) {
      if (const Outcome outcome = ApplyRange(begin, stop_at); outcome != Outcome::kDone) return outcome;
    }
    if (stop_at == items.end()) break;
    if (stop_at->undecodable) {
      const Outcome outcome =
          Poison(*stop_at, PoisonCause{stop_at->undecodable->reason, stop_at->undecodable->detail, ""});
      if (outcome != Outcome::kDone) return outcome;
    } else {
      InboxLog().critical(
          "event {} of type \"{}\" at {}: no rule of inbox.handlers matches topic {} and this type; "
          "stopping (inbox.unhandled: fail). Add a rule, or set inbox.unhandled: skip",
          stop_at->event->id, stop_at->event->type, Where(stop_at->record), stop_at->record.topic);
      return Outcome::kFatal;
    }
    begin = stop_at + 1;
  }
  return Outcome::kDone;
}

Inbox::Outcome Inbox::ApplyRange(std::vector<Item>::iterator begin, std::vector<Item>::iterator end) {
  nlohmann::json batch = nlohmann::json::array();
  std::int64_t unhandled = 0;
  for (auto it = begin; it != end; ++it) {
    batch.push_back(BatchElement(it->record, *it->event, it->handler));
    if (it->handler == nullptr && !it->dead_lettered) ++unhandled;
  }
  // Header values and keys are bytes: a stray invalid UTF-8 sequence must not stop the inbox.
  const std::string text = batch.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const auto count = static_cast<std::size_t>(end - begin);
  for (int attempt = 1;; ++attempt) {
    const auto start = Clock::now();
    auto counts = store_.ApplyBatch(text);
    if (counts) {
      metrics_.batch_seconds.Observe(std::chrono::duration<double>(Clock::now() - start).count());
      metrics_.batch_events.Observe(static_cast<double>(count));
      metrics_.applied.Increment(static_cast<double>(counts.value().applied));
      metrics_.duplicates.Increment(static_cast<double>(counts.value().duplicates));
      metrics_.unhandled.Increment(static_cast<double>(unhandled));
      std::map<TopicPartition, std::int64_t> reached;
      for (auto it = begin; it != end; ++it) {
        auto& next = reached[{it->record.topic, it->record.partition}];
        next = std::max(next, it->record.offset + 1);
      }
      for (const auto& [partition, next] : reached) applied_[partition] = std::max(applied_[partition], next);
      consumer_->CommitPositions(reached);
      SetReadiness(true, fmt::format("consuming {} partitions", consumer_->Assignment().size()));
      return Outcome::kDone;
    }
    const base::Error& error = counts.error();
    switch (KindOfFailure(error.code)) {
      case FailureKind::kTransient:
        metrics_.transient_errors.Increment();
        SetReadiness(false, "applying failed: " + error.message);
        if (!Backoff(attempt, fmt::format("applying {} records failed: {}", count, Describe(error)))) {
          return Outcome::kStopped;
        }
        continue;
      case FailureKind::kSetup:
        InboxLog().critical(
            "cannot apply events: {}; the inbox's role needs EXECUTE on inbox.apply_batch() and on "
            "every handler, and what the handlers write (inbox/sql/inbox_role.sql)",
            Describe(error));
        return Outcome::kFatal;
      case FailureKind::kEvent:
        break;
    }
    if (count > 1) {
      // One of them failed: find it, each record in its own transaction, in order.
      for (auto it = begin; it != end; ++it) {
        if (const Outcome outcome = ApplyRange(it, it + 1); outcome != Outcome::kDone) return outcome;
      }
      return Outcome::kDone;
    }
    if (begin->dead_lettered) {
      InboxLog().critical("cannot record dead-lettered event {} at {}: {}", begin->event->id, Where(begin->record),
                          Describe(error));
      return Outcome::kFatal;
    }
    return Poison(*begin, PoisonCause{"handler_error", Describe(error), begin->handler ? *begin->handler : ""});
  }
}

Inbox::Outcome Inbox::Poison(const Item& item, const PoisonCause& cause) {
  metrics_.Poison(cause.reason).Increment();
  const std::string id = item.event ? item.event->id : "without an id";
  const std::string what =
      fmt::format("event {} at {}{}: {}: {}", id, Where(item.record),
                  cause.handler.empty() ? "" : " (handler " + cause.handler + ")", cause.reason, cause.message);
  if (config_.inbox.on_poison == config::PoisonPolicy::kFail) {
    InboxLog().critical(
        "{}; stopping (inbox.on_poison: fail) with nothing after it applied: fix the handler or "
        "the data and restart (the inbox resumes at this event), or set inbox.on_poison: dead-letter",
        what);
    return Outcome::kFatal;
  }
  try {
    if (!dead_letters_) dead_letters_ = std::make_unique<DeadLetterProducer>(config_);
  } catch (const std::runtime_error& error) {
    InboxLog().critical("{}; cannot write it to the dead-letter topic: {}", what, error.what());
    return Outcome::kFatal;
  }
  for (int attempt = 1;; ++attempt) {
    auto written = dead_letters_->Write(item.record, cause, kDeadLetterTimeout);
    if (written) break;
    if (!Backoff(attempt, what + "; " + written.error().message)) return Outcome::kStopped;
  }
  InboxLog().error("{}; written to dead-letter topic {}", what, config_.inbox.dead_letter_topic);
  metrics_.dead_lettered.Increment();
  // Done with it: its id and position recorded, no handler run.
  std::vector<Item> done{item};
  done.front().handler = nullptr;
  done.front().dead_lettered = true;
  if (!done.front().event) {
    done.front().event =
        InboxEvent{PositionalId(item.record), "", item.record.key, nlohmann::json::object(), nullptr};
  }
  return ApplyRange(done.begin(), done.end());
}

void Inbox::UpdateLag() {
  const auto watermarks = consumer_->AssignedWatermarks();
  metrics_.assigned_partitions.Set(static_cast<double>(consumer_->Assignment().size()));
  for (const auto& [partition, marks] : watermarks) {
    const auto applied = applied_.find(partition);
    const std::int64_t next = applied != applied_.end() ? applied->second : marks.low;
    metrics_.Lag(partition.first, partition.second)
        .Set(static_cast<double>(std::max<std::int64_t>(0, marks.high - next)));
  }
}

int Inbox::Run() {
  if (const Outcome outcome = CheckDatabase(); outcome != Outcome::kDone)
    return outcome == Outcome::kFatal ? 1 : 0;
  int exit_code = 0;
  try {
    consumer_ = std::make_unique<InboxConsumer>(
        config_, [this](const std::vector<TopicPartition>& wanted) { return LookUpPositions(wanted); },
        [this] { return Stopping(); });
    consumer_->Start();
    InboxLog().info("inbox {} consuming {} as {}", config_.inbox.name, fmt::join(config_.inbox.Topics(), ", "),
                    config_.inbox.partitions.empty() ? "group " + config_.inbox.GroupId() : "a static assignment");
    SetReadiness(true, "consuming");
    std::vector<Item> pending;
    auto batch_start = Clock::now();
    auto last_lag = Clock::now();
    while (!Stopping()) {
      const auto wait =
          pending.empty() ? kIdlePoll
                          : std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                                          batch_start + config_.inbox.batch_wait - Clock::now()));
      std::optional<KafkaRecord> record = consumer_->Poll(wait);
      if (consumer_->Revoked()) {
        // Read but not applied: the partitions' next owner reads them again from the positions.
        pending.clear();
        consumer_->ClearRevoked();
      }
      if (record) {
        if (pending.empty()) batch_start = Clock::now();
        pending.push_back(Prepare(std::move(*record)));
      }
      if (!pending.empty() &&
          (pending.size() >= config_.inbox.batch_size || Clock::now() >= batch_start + config_.inbox.batch_wait)) {
        const Outcome outcome = ApplyItems(pending);
        pending.clear();
        if (outcome == Outcome::kFatal) exit_code = 1;
        if (outcome != Outcome::kDone) break;
      }
      if (Clock::now() - last_lag >= kLagInterval) {
        UpdateLag();
        last_lag = Clock::now();
      }
    }
    // A graceful stop applies what was read (a failure now just leaves it to the next start).
    if (exit_code == 0 && !pending.empty() && ApplyItems(pending) == Outcome::kFatal) exit_code = 1;
    consumer_->Close();
  } catch (const ConsumerError& error) {
    InboxLog().critical("{}", error.what());
    exit_code = 1;
  }
  SetReadiness(false, "stopped");
  return exit_code;
}

}  // namespace outbox_relay::inbox
