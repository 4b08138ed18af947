#pragma once

// The parts of one CrashLoop::Run, private to the crash_loop*.cpp files (namespace
// crash_loop_detail):
//   crash_loop.cpp         CrashLoop and the loop: start, fault points, drain
//   crash_loop_relay.cpp   LoopRelay: the relay under test and the slot it holds
//   crash_loop_kafka.cpp   KafkaWatch: what Kafka holds, and snapshots of the slot against it
//   crash_loop_faults.cpp  when a fault strikes (fault points) and each fault
//   crash_loop_checks.cpp  the end of a run (drain, SIGTERM, the oracle's analysis) and the
//                          expectations the crash tests check on its result

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "support/crash_loop.hpp"
#include "support/kafka_reader.hpp"
#include "support/oracle.hpp"
#include "support/relay_process.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it::crash_loop_detail {

using Clock = std::chrono::steady_clock;

/// A step of the loop that cannot be carried out: throws std::runtime_error(what).
[[noreturn]] void Fail(const std::string& what);

/// "+12.3 s": the time since `start`, for the log.
std::string Since(Clock::time_point start);

/// The relay under test and its slot.
class LoopRelay {
 public:
  /// `start` is the run's start, for the log; with `may_exit` a run that ends by itself is
  /// restarted instead of failing the loop.
  LoopRelay(RelayProcess& relay, TestDatabase& db, std::string slot, bool may_exit,
            Clock::time_point start);

  RelayProcess& Process() { return relay_; }

  /// A relay run that ended by itself: counted and restarted when allowed, Fail otherwise.
  /// `when` says where the loop was, for the log.
  void KeepRunning(const std::string& when);

  /// Until the slot is held by a walsender other than `old_pid` (any, when nullopt), at most
  /// 60 s. The slot may be unreadable meanwhile (PostgreSQL restarting).
  void AwaitStreaming(const std::string& when, std::optional<std::int64_t> old_pid = std::nullopt);

  /// The slot's confirmed_flush_lsn now; Fail if the slot is gone.
  std::uint64_t ConfirmedFlushLsn();

  /// Relay runs that ended by themselves so far.
  int SelfExits() const { return self_exits_; }

 private:
  RelayProcess& relay_;
  TestDatabase& db_;
  std::string slot_;
  bool may_exit_;
  Clock::time_point start_;
  int self_exits_ = 0;
};

/// What Kafka holds, read incrementally, and the snapshots of what the slot confirmed against it.
class KafkaWatch {
 public:
  KafkaWatch(const std::string& bootstrap_servers, std::vector<std::string> topics);

  /// Reads Kafka to its current end; a read that fails (the broker restarting) is retried
  /// until `timeout`, then thrown.
  void CatchUp(std::chrono::milliseconds timeout);

  KafkaReader& Reader() { return reader_; }
  const std::vector<KafkaRecord>& Records() const { return reader_.Records(); }
  /// Distinct event ids read so far.
  std::size_t DistinctEvents() const { return seen_.size(); }

  /// Records what the slot confirmed (`confirmed`, read before Kafka was) against what Kafka
  /// holds, read now unless `read_kafka` is false (the broker unreachable: what was read last).
  void Snapshot(int fault_point, std::uint64_t confirmed, int committed, bool read_kafka = true);
  const std::vector<AckSnapshot>& Snapshots() const { return snapshots_; }
  std::vector<AckSnapshot> TakeSnapshots() { return std::move(snapshots_); }
  /// The last snapshot, for the log.
  std::string LastSnapshotText() const;

 private:
  KafkaReader reader_;
  std::unordered_set<std::string> seen_;  // distinct event ids read so far
  std::size_t scanned_ = 0;               // reader records already in seen_
  std::vector<AckSnapshot> snapshots_;
};

/// One run of the loop: the relay, the reader and what was observed so far.
struct LoopRun {
  LoopRun(TestDatabase& db, const CrashLoopOptions& options, const KafkaScenario& scenario,
          RelayProcess& relay, std::string log_dir, const std::string& bootstrap_servers);

  /// The time since the run began, for the log.
  std::string At() const { return Since(start); }

  TestDatabase& db;
  const CrashLoopOptions& options;
  const KafkaScenario& scenario;
  const std::string log_dir;
  KafkaWatch kafka;
  std::mt19937_64 rng;
  const Clock::time_point start = Clock::now();
  Clock::time_point streaming_since = start;  // when the current relay run began
  LoopRelay relay;
  CrashLoopResult result;
};

/// Where a fault point was reached, for the log.
struct FaultPoint {
  int k = 0;
  int threshold = 0;            // events committed that the point waited for
  Clock::duration flow_wait{};  // then waited for this relay run's first new event
  std::string Describe() const;
};

/// crash_loop_faults.cpp: waits for the k-th fault point: a random point of the k-th slice of
/// the workload, once the relay delivered something new (bounded waits; Fail if the writer
/// failed or is too slow).
FaultPoint AwaitFaultPoint(LoopRun& run, int k, const BackgroundWriter& writer);

/// crash_loop_faults.cpp: carries out `fault` at `point` and returns once the relay streams
/// again (or the fault's duration is over), with a snapshot taken.
void InjectFault(LoopRun& run, Fault fault, const FaultPoint& point, const BackgroundWriter& writer);

/// crash_loop_checks.cpp: once the writer is done (run.result.written set): waits until
/// everything committed is in Kafka, stops the relay with SIGTERM and fills in the rest of
/// run.result from the ledger, the commit oracle and what Kafka holds.
void Drain(LoopRun& run);

}  // namespace outbox_relay::it::crash_loop_detail
