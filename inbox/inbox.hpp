#pragma once

// `outbox-relay inbox`: consume, and apply each event exactly once to the consuming database.
// One thread does it all: poll records, gather a batch (inbox.batch_size records or
// inbox.batch_wait_ms after its first), apply it in one PostgreSQL transaction through
// inbox.apply_batch() (deduplicate by id, call the handler, move the position), repeat. The
// positions in PostgreSQL are the only truth: every assignment starts from them.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "inbox/dead_letter_producer.hpp"
#include "inbox/inbox_consumer.hpp"
#include "inbox/inbox_record.hpp"
#include "inbox/inbox_store.hpp"
#include "relay/server/metrics.hpp"

namespace outbox_relay::inbox {

class Inbox {
 public:
  Inbox(const config::Config& config, server::InboxMetrics& metrics);
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  /// Runs until Stop() or a problem it cannot go on after; returns the exit code (0 after
  /// Stop(), 1 after a poison event under inbox.on_poison: fail, or a database without the
  /// inbox's functions). Applies what it has read before it returns from a Stop().
  int Run();

  /// Asks Run() to finish; any thread.
  void Stop();

  /// Whether the inbox consumes (partitions assigned, the database answering), and why not;
  /// any thread.
  bool Ready(std::string& reason) const;

 private:
  // An event ready to apply, or the reason it cannot be.
  struct Item {
    KafkaRecord record;
    std::optional<InboxEvent> event;
    std::optional<Undecodable> undecodable;
    const std::string* handler = nullptr;
    bool dead_lettered = false;  // written to the dead-letter topic: record it, run nothing
  };
  enum class Outcome { kDone, kStopped, kFatal };

  bool Stopping() const { return stop_.load(); }
  std::optional<std::map<TopicPartition, std::int64_t>> LookUpPositions(const std::vector<TopicPartition>& wanted);
  Outcome CheckDatabase();
  Item Prepare(KafkaRecord record) const;
  Outcome ApplyItems(std::vector<Item>& items);
  Outcome ApplyRange(std::vector<Item>::iterator begin, std::vector<Item>::iterator end);
  Outcome Poison(const Item& item, const PoisonCause& cause);
  void UpdateLag();
  // Pauses before try `attempt` (1, 2, ...) after a transient failure; false when stopping.
  bool Backoff(int attempt, const std::string& what);
  void SetReadiness(bool ready, std::string reason);

  const config::Config& config_;
  server::InboxMetrics& metrics_;
  InboxStore store_;
  std::unique_ptr<InboxConsumer> consumer_;
  std::unique_ptr<DeadLetterProducer> dead_letters_;
  std::map<TopicPartition, std::int64_t> applied_;  // the next offset to apply, per partition
  std::atomic<bool> stop_{false};
  mutable std::mutex readiness_mutex_;
  bool ready_ = false;
  std::string readiness_reason_ = "starting";
};

}  // namespace outbox_relay::inbox
