#pragma once

// The fault loop shared by the crash and fault-matrix tests: while a BackgroundWriter commits
// the workload, faults are injected at fault points spread over the workload: the relay
// SIGKILLed and restarted after a random downtime, the broker or PostgreSQL restarted, the
// walsender terminated, the broker partitioned away or its disk filled. After each fault it
// records what the slot confirmed and what Kafka held then (during a partition, every time the
// slot moves); at the end it waits for every committed event, stops the relay with SIGTERM and
// analyses what a read_committed consumer saw against the ledger and the commit oracle.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/fault_broker.hpp"
#include "support/oracle.hpp"
#include "support/relay_process.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {

/// What the loop does at a fault point.
enum class Fault {
  kKillRelay,           // SIGKILL the relay; restart it after a random downtime
  kRestartKafka,        // restart the relay's broker (the harness's, or the fault broker)
  kRestartPostgres,     // harness.sh restart-pg; the writer reconnects and retries
  kTerminateWalsender,  // pg_terminate_backend(the slot's walsender); the relay reconnects
  kPartitionKafka,      // the fault broker unreachable, packets dropped, for fault_duration
  kFillBrokerDisk,      // the fault broker's log dir full for fault_duration; then freed and
                        // the broker restarted
};

/// The fault's name in the fault matrix's result lines ("relay-kill-9", ...).
const char* FaultName(Fault fault);

/// `count` times `fault`.
std::vector<Fault> Repeat(Fault fault, int count);

struct CrashLoopOptions {
  Delivery delivery = Delivery::kAtLeastOnce;
  WorkloadOptions workload;  // its seed is drawn at random by CrashLoop
  // Fault k happens at a random point of the k-th of faults.size() equal slices of
  // [first_fault_at, last_fault_at] (fractions of the workload's events), once the relay
  // delivered something new since the previous fault; faults that find the writer done happen
  // right away.
  std::vector<Fault> faults = Repeat(Fault::kKillRelay, 3);
  double first_fault_at = 0.15;
  double last_fault_at = 0.85;
  // Downtime after each kill, random in [min, max]; $OUTBOX_RELAY_IT_DOWNTIME_MS overrides.
  std::chrono::milliseconds min_downtime{200};
  std::chrono::milliseconds max_downtime{4000};
  // How long a partition or a full disk lasts.
  std::chrono::seconds fault_duration{20};
  // The broker of kPartitionKafka and kFillBrokerDisk; when set, the relay and the reader use
  // it instead of the harness's broker.
  FaultBroker* broker = nullptr;
  std::optional<std::size_t> max_in_flight_events;  // the relay's flow.max_in_flight_events
  // A relay that exits by itself is restarted (and counted) instead of failing the test.
  bool relay_may_exit = false;
};

struct CrashLoopResult {
  WorkloadResult written;
  std::vector<LedgerEvent> ledger;
  CommitOracle oracle;
  DeliveryReport report;
  std::vector<AckSnapshot> snapshots;  // after each fault; during a partition, at each move
  int faults = 0;              // fault points carried out
  int kills = 0;
  int self_exits = 0;          // relay runs that ended by themselves
  std::size_t delivered = 0;   // distinct committed events read before SIGTERM
  std::optional<ExitStatus> final_exit;  // after SIGTERM; nullopt if still running after 60 s
  std::optional<std::uint64_t> final_confirmed_flush_lsn;
  long peak_rss_kib = 0;       // the highest peak resident set of any relay run
  std::chrono::steady_clock::duration elapsed{};
};

class CrashLoop {
 public:
  /// Names the scenario after `suffix`, registers its slots for dropping, creates other_table
  /// and the oracle slots in `db`. Throws PgError on failure.
  CrashLoop(TestDatabase& db, const std::string& suffix, CrashLoopOptions options);

  const KafkaScenario& Scenario() const { return scenario_; }
  const CrashLoopOptions& Options() const { return options_; }
  /// The relay config for this scenario, delivery mode, broker and in-flight cap.
  RelayConfigOptions RelayConfig() const;
  /// The broker the relay and the reader use.
  std::string BootstrapServers() const;

  /// Runs the loop with `relay` (a `run` of RelayConfig(), not started). A step that cannot be
  /// carried out (relay never streams, writer fails, oracle broken) throws std::runtime_error;
  /// a relay run that delivers nothing new within 60 s is a non-fatal gtest failure. Blocks for
  /// the whole run (every wait bounded). `log_dir` receives the harness script's output.
  CrashLoopResult Run(RelayProcess& relay, const std::string& log_dir);

 private:
  TestDatabase& db_;
  CrashLoopOptions options_;
  KafkaScenario scenario_;
};

/// The fault matrix's result line: "fault=<name> mode=<delivery> cycles=<fault points>
/// events=<committed> lost= duplicated= reordered= peak_rss_kib= seconds=".
std::string FaultLine(const std::string& name, Delivery delivery, const CrashLoopResult& result);

/// The crash tests' shared expectations (gtest EXPECTs): nothing lost, first deliveries in
/// per-aggregate order, nothing rolled back or unknown, every field right, a clean exit 0 on
/// SIGTERM with the slot confirmed up to the last outbox commit, and at every snapshot the slot
/// never confirmed an event Kafka did not hold. Duplicates are the caller's to judge.
void ExpectNoLossInOrder(const CrashLoopResult& result);

/// Exactly-once: the checkpoint topic on `bootstrap_servers` is compacted, its last record for
/// the slot covers the commit LSN of the last event, and checkpoints are well-formed, in one
/// partition, and never go backwards (gtest EXPECTs).
void ExpectCheckpointCovers(const KafkaScenario& scenario, const CommitOracle& oracle,
                            const std::string& bootstrap_servers);

}  // namespace outbox_relay::it
