// The fault matrix: the relay under every fault this machine can make (relay SIGKILL loop,
// broker and PostgreSQL restarts, the walsender terminated, Kafka unreachable for two minutes, a
// network partition between relay and broker, the broker's disk full), in both delivery modes.
// Each scenario prints one line
//   fault=<name> mode=<mode> cycles=N events=N lost=N duplicated=N reordered=N peak_rss_kib=N seconds=N
// and holds the contract: lost 0 and reordered 0 always, duplicated 0 in exactly-once mode, and
// at every snapshot nothing confirmed to the slot that Kafka did not hold.
//
// CI runs each scenario in the mode its Runs() call names (the kill loop and the partition past
// the producer timeout in both; NetworkPartition and the two-minute outage in neither), sized to
// fit about eight minutes on two cores. OUTBOX_RELAY_LONG=1 (scripts/test.sh --long) runs every scenario in both
// modes, with more cycles and longer workloads; in CI the other runs are reported as skipped.

#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <memory>
#include <ostream>
#include <string>

#include "support/crash_loop.hpp"
#include "support/fault_broker.hpp"
#include "support/harness_env.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {

// gtest prints the parameter in test listings (found by argument-dependent lookup).
void PrintTo(Delivery delivery, std::ostream* out) { *out << DeliveryName(delivery); }

namespace {

using namespace std::chrono_literals;

class FaultMatrixTest : public RelayIntegrationTest, public ::testing::WithParamInterface<Delivery> {
 protected:
  Delivery Mode() const { return GetParam(); }

  // True when this run of the scenario is part of this suite run: in CI only in `ci_mode`,
  // in the long run in both modes.
  bool Runs(Delivery ci_mode) const { return LongRun() || Mode() == ci_mode; }

  // A fault broker of this test, its files under the temp dir.
  std::unique_ptr<FaultBroker> StartFaultBroker(const std::string& log_dir_size = "") {
    return std::make_unique<FaultBroker>(temp_->File("fault-broker"), temp_->Path(), log_dir_size);
  }

  // `count` partitions between the relay and `broker`, `duration` each, spread between the
  // fractions `first_at` and `last_at` of the workload.
  static CrashLoopOptions Partitions(FaultBroker& broker, const WorkloadOptions& workload, int count,
                                     std::chrono::seconds duration, double first_at, double last_at) {
    CrashLoopOptions options;
    options.workload = workload;
    options.faults = Repeat(Fault::kPartitionKafka, count);
    options.first_fault_at = first_at;
    options.last_fault_at = last_at;
    options.fault_duration = duration;
    options.broker = &broker;
    return options;
  }

  // Runs the loop in this test's mode, prints the scenario's line and checks the contract.
  // `adjust` may change the relay's config first.
  CrashLoopResult RunScenario(const std::string& name, CrashLoopOptions options,
                              const std::function<void(RelayConfigOptions&)>& adjust = {}) {
    options.delivery = Mode();
    CrashLoop loop(CreateDatabase(), suffix_, options);
    RelayConfigOptions config = loop.RelayConfig();
    if (adjust) adjust(config);
    RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
    const CrashLoopResult result = loop.Run(relay, temp_->Path());
    const std::string line = FaultLine(name, Mode(), result);
    std::cout << line << '\n' << std::flush;
    RecordProperty("fault_line", line);
    EXPECT_EQ(result.faults, static_cast<int>(options.faults.size()));
    ExpectNoLossInOrder(result);
    if (Mode() == Delivery::kExactlyOnce) {
      EXPECT_EQ(result.report.duplicated, 0u) << "exactly-once delivered duplicates";
      ExpectCheckpointCovers(loop.Scenario(), result.oracle, loop.BootstrapServers());
    }
    return result;
  }
};

// SIGKILLed again and again while one writer commits (50 times in CI in exactly-once mode, 15 in
// at-least-once; 300 and 100 in the long run), each time restarted after up to 0.5 s, the relay
// delivers every committed event, in per-aggregate order, exactly once in exactly-once mode;
// after every kill the slot confirms nothing Kafka does not hold.
TEST_P(FaultMatrixTest, RelayKill9Loop) {
  const bool exactly_once = Mode() == Delivery::kExactlyOnce;
  const int kills = LongRun() ? (exactly_once ? 300 : 100) : (exactly_once ? 50 : 15);
  CrashLoopOptions options;
  // 500 events (2.5 s of writes) per kill: a kill cycle (a new event in Kafka, SIGKILL,
  // downtime, restart, claiming the slot and, in exactly-once mode, the transactional id) takes
  // about that long, so the kills spread over the whole workload.
  options.workload = WorkloadOptions::Sized(kills * 100, kills * 20, kills / 5, 200);
  options.workload.aggregates = 500;
  options.faults = Repeat(Fault::kKillRelay, kills);
  options.first_fault_at = 0.03;
  options.last_fault_at = 0.95;
  options.min_downtime = 0ms;
  options.max_downtime = 500ms;
  const CrashLoopResult result = RunScenario("relay-kill-9", options);
  EXPECT_EQ(result.kills, kills);
}

// The broker restarted (SIGTERM, start) mid-stream, twice in CI and five times in the long run:
// the relay rides it out without restarting.
TEST_P(FaultMatrixTest, BrokerRestarts) {
  if (!Runs(Delivery::kExactlyOnce)) GTEST_SKIP() << "long run only (OUTBOX_RELAY_LONG=1)";
  CrashLoopOptions options;
  options.workload = WorkloadOptions::Sized(2000, 200, 2, 200);  // 6,000 events, ~30 s
  options.faults = Repeat(Fault::kRestartKafka, LongRun() ? 5 : 2);
  RunScenario("broker-restart", options);
}

// PostgreSQL restarted (pg_ctl stop -m fast, start) mid-stream, twice in CI and four times in the
// long run; the writer reconnects and retries, the relay reconnects by itself.
TEST_P(FaultMatrixTest, PostgresRestarts) {
  if (!Runs(Delivery::kExactlyOnce)) GTEST_SKIP() << "long run only (OUTBOX_RELAY_LONG=1)";
  CrashLoopOptions options;
  options.workload = WorkloadOptions::Sized(2000, 200, 2, 200);  // 6,000 events, ~30 s
  options.faults = Repeat(Fault::kRestartPostgres, LongRun() ? 4 : 2);
  RunScenario("postgres-restart", options);
}

// The relay's walsender terminated with pg_terminate_backend five times mid-stream (ten in the
// long run): the relay drains what it sent, reconnects and resumes from the slot.
TEST_P(FaultMatrixTest, WalsenderTerminated) {
  if (!Runs(Delivery::kAtLeastOnce)) GTEST_SKIP() << "long run only (OUTBOX_RELAY_LONG=1)";
  CrashLoopOptions options;
  options.workload = WorkloadOptions::Sized(2000, 200, 2, 250);  // 6,000 events, ~24 s
  options.faults = Repeat(Fault::kTerminateWalsender, LongRun() ? 10 : 5);
  RunScenario("walsender-terminate", options);
}

// Kafka unreachable for two minutes (every packet between relay and broker dropped) while the
// writer goes on: the relay stays up, stops reading at its in-flight cap so its memory stays
// bounded, confirms to the slot nothing beyond what Kafka held when the outage began, and
// delivers everything once Kafka is back, without a restart. Default timeouts: in exactly-once
// mode the outage outlives the 60 s transaction timeout, as in the test below. Long run only: in
// CI, KafkaUnreachablePastTheProducerTimeout below stands for the outage and
// RelayFailureTest.InFlightCapStopsReadingWhileKafkaIsDown for the in-flight cap.
TEST_P(FaultMatrixTest, KafkaUnreachableForTwoMinutes) {
  if (!LongRun()) GTEST_SKIP() << "long run only (OUTBOX_RELAY_LONG=1)";
  constexpr std::size_t kInFlightCap = 2000;
  auto broker = StartFaultBroker();
  // 12,000 events, ~120 s
  CrashLoopOptions options = Partitions(*broker, WorkloadOptions::Sized(4000, 400, 4, 100), 1, 120s, 0.08, 0.12);
  options.max_in_flight_events = kInFlightCap;
  const CrashLoopResult result = RunScenario("kafka-unreachable-120s", options);
  EXPECT_EQ(result.self_exits, 0);
  // Far more than the cap was committed during the outage; without it the relay would read it
  // all. 64 MiB is flow.max_in_flight_bytes' default, the bound a default relay promises.
  EXPECT_GT(result.peak_rss_kib, 0);
  EXPECT_LT(result.peak_rss_kib, 64 * 1024) << "memory is not bounded by the in-flight cap";
}

// Kafka unreachable for longer than the producer may wait (25 s against a 10 s limit). In
// exactly-once mode the broker's transaction coordinator aborts the open transaction and bumps
// the producer's epoch, which librdkafka reports as fatal (fenced) once Kafka is back: the relay
// replaces its producer and resumes from its checkpoint. In at-least-once mode the events in
// flight time out (kafka.message.timeout.ms): the relay sends them again from the slot, the ones
// queued after them withdrawn first so that none overtakes another. Either way without exiting:
// the limit bounds how long one attempt waits, not how long the relay survives.
TEST_P(FaultMatrixTest, KafkaUnreachablePastTheProducerTimeout) {
  auto broker = StartFaultBroker();
  // 6,000 events, ~40 s
  const CrashLoopOptions options =
      Partitions(*broker, WorkloadOptions::Sized(2000, 200, 2, 150), 1, 25s, 0.15, 0.15);
  const CrashLoopResult result =
      RunScenario("kafka-unreachable-past-timeout", options, [&](RelayConfigOptions& config) {
        if (Mode() == Delivery::kExactlyOnce) {
          config.more["exactly_once"]["transaction_timeout_ms"] = "10000";
        } else {
          config.kafka_properties["message.timeout.ms"] = "10000";
        }
      });
  EXPECT_EQ(result.self_exits, 0);
}

// A network partition between relay and broker (packets dropped both ways, connections hang)
// for 30 s, three times: nothing confirmed past Kafka while it lasts, everything delivered after
// it heals. Long run only: in CI the partition of the test above (25 s past shortened timeouts)
// stands for it.
TEST_P(FaultMatrixTest, NetworkPartition) {
  if (!LongRun()) GTEST_SKIP() << "long run only (OUTBOX_RELAY_LONG=1)";
  auto broker = StartFaultBroker();
  // 6,000 events, ~40 s
  RunScenario("network-partition",
              Partitions(*broker, WorkloadOptions::Sized(2000, 200, 2, 150), 3, 30s, 0.1, 0.6));
}

// The broker's log dir (a 128 MiB tmpfs) filled mid-stream for 15 s, then freed and the broker
// restarted: the relay confirms nothing Kafka did not persist, loses nothing and resumes.
TEST_P(FaultMatrixTest, BrokerDiskFull) {
  if (!Runs(Delivery::kAtLeastOnce)) GTEST_SKIP() << "long run only (OUTBOX_RELAY_LONG=1)";
  auto broker = StartFaultBroker("128m");
  CrashLoopOptions options;
  options.workload = WorkloadOptions::Sized(2000, 200, 2, 200);  // 6,000 events, ~30 s
  options.faults = {Fault::kFillBrokerDisk};
  options.first_fault_at = 0.2;
  options.last_fault_at = 0.4;
  options.fault_duration = 15s;
  options.broker = broker.get();
  RunScenario("broker-disk-full", options);
}

INSTANTIATE_TEST_SUITE_P(Modes, FaultMatrixTest, ::testing::Values(Delivery::kExactlyOnce, Delivery::kAtLeastOnce),
                         [](const ::testing::TestParamInfo<Delivery>& info) {
                           return info.param == Delivery::kExactlyOnce ? "ExactlyOnce" : "AtLeastOnce";
                         });

}  // namespace
}  // namespace outbox_relay::it
