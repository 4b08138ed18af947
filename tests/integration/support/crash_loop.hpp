#pragma once

// The crash-loop driver shared by the SIGKILL tests: while a BackgroundWriter commits the
// workload, the relay is SIGKILLed at kill points spread over the workload and restarted after a
// random downtime; optionally the broker or PostgreSQL is restarted between kills. After each
// kill it records what the slot confirmed and what Kafka held then; at the end it waits for
// every committed event, stops the relay with SIGTERM and analyses what a read_committed
// consumer saw against the ledger and the commit oracle.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/oracle.hpp"
#include "support/relay_process.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {

enum class ServerFault { kRestartKafka, kRestartPostgres };

struct CrashLoopOptions {
  Delivery delivery = Delivery::kAtLeastOnce;
  WorkloadOptions workload;  // its seed is drawn at random by CrashLoop
  int kills = 3;
  // Kill k happens at a random point of the k-th of `kills` equal slices of
  // [first_kill_at, last_kill_at] (fractions of the workload's events), once the running relay
  // delivered something new; kills that find the writer done happen right away.
  double first_kill_at = 0.15;
  double last_kill_at = 0.85;
  // Downtime after each kill, random in [min, max]; $OUTBOX_RELAY_IT_DOWNTIME_MS overrides.
  std::chrono::milliseconds min_downtime{200};
  std::chrono::milliseconds max_downtime{4000};
  // Before waiting for kill point k: restart a server (tests/harness/harness.sh), synchronously.
  std::map<int, ServerFault> faults;
  // A relay that exits by itself is restarted (and counted) instead of failing the test.
  bool relay_may_exit = false;
};

struct CrashLoopResult {
  WorkloadResult written;
  std::vector<LedgerEvent> ledger;
  CommitOracle oracle;
  DeliveryReport report;
  std::vector<AckSnapshot> snapshots;  // one per kill
  int kills = 0;
  int self_exits = 0;          // relay runs that ended by themselves
  std::size_t delivered = 0;   // distinct committed events read before SIGTERM
  std::optional<ExitStatus> final_exit;  // after SIGTERM; nullopt if still running after 60 s
  std::optional<std::uint64_t> final_confirmed_flush_lsn;
  std::chrono::steady_clock::duration elapsed{};
};

class CrashLoop {
 public:
  /// Names the scenario after `suffix`, registers its slots for dropping, creates other_table
  /// and the oracle slots in `db`. Throws PgError on failure.
  CrashLoop(TestDatabase& db, const std::string& suffix, CrashLoopOptions options);

  const KafkaScenario& Scenario() const { return scenario_; }
  const CrashLoopOptions& Options() const { return options_; }
  /// The relay config for this scenario and delivery mode.
  RelayConfigOptions RelayConfig() const;

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

/// The crash tests' shared expectations (gtest EXPECTs): nothing lost, first deliveries in
/// per-aggregate order, nothing rolled back or unknown, every field right, a clean exit 0 on
/// SIGTERM with the slot confirmed up to the last outbox commit, and after every kill the slot
/// never confirmed an event Kafka did not hold. Duplicates are the caller's to judge.
void ExpectNoLossInOrder(const CrashLoopResult& result);

}  // namespace outbox_relay::it
