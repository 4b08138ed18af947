// Crash acceptance tests: the relay SIGKILLed mid-stream and restarted, in both delivery modes.

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>

#include "support/crash_loop.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// `kills` SIGKILLs spread from `first_at` to `last_at` of the workload, each followed by a
// downtime between the two bounds.
CrashLoopOptions KillLoop(int kills, double first_at, double last_at, std::chrono::milliseconds min_downtime,
                          std::chrono::milliseconds max_downtime) {
  CrashLoopOptions options;
  options.faults = Repeat(Fault::kKillRelay, kills);
  options.first_fault_at = first_at;
  options.last_fault_at = last_at;
  options.min_downtime = min_downtime;
  options.max_downtime = max_downtime;
  return options;
}

// SIGKILLed three times while events flow and restarted each time, the relay still delivers
// every committed event (duplicates allowed and counted), first deliveries keep per-aggregate
// order, and after each kill the slot's confirmed_flush_lsn is never ahead of what Kafka holds:
// every event whose commit end LSN (independent test_decoding oracle) is <= it is in Kafka.
TEST_F(RelayIntegrationTest, SurvivesSigkillWithoutLossAndNeverConfirmsAheadOfKafka) {
  CrashLoopOptions options = KillLoop(3, 0.15, 0.83, 200ms, 4000ms);
  options.workload.events_per_second = 400;  // ~25 s of writes, so the kills land mid-stream
  CrashLoop loop(CreateDatabase(), suffix_, options);
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(loop.RelayConfig())), "relay");
  const CrashLoopResult result = loop.Run(relay, temp_->Path());
  // Duplicates per kill are the price of at-least-once: how promptly the slot is confirmed.
  std::cout << FaultLine("relay-kill-9", Delivery::kAtLeastOnce, result) << '\n' << std::flush;
  ExpectNoLossInOrder(result);
}

// The exactly-once kill loop in small (the fault matrix runs 50 kills on PostgreSQL 15): five
// SIGKILLs while events flow, on every PostgreSQL major of scripts/test.sh --pg-versions. Lost 0,
// duplicated 0, reordered 0, and the Kafka checkpoint covers what the slot confirmed.
TEST_F(RelayIntegrationTest, ExactlyOnceSigkillLoopDuplicatesNothing) {
  CrashLoopOptions options = KillLoop(5, 0.1, 0.9, 0ms, 500ms);
  options.delivery = Delivery::kExactlyOnce;
  options.workload = WorkloadOptions::Sized(1000, 200, 1, 250);  // 4,000 events, ~16 s
  CrashLoop loop(CreateDatabase(), suffix_, options);
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(loop.RelayConfig())), "relay");
  const CrashLoopResult result = loop.Run(relay, temp_->Path());
  std::cout << FaultLine("relay-kill-9", Delivery::kExactlyOnce, result) << '\n' << std::flush;
  EXPECT_EQ(result.kills, 5);
  ExpectNoLossInOrder(result);
  EXPECT_EQ(result.report.duplicated, 0u) << "exactly-once delivered duplicates";
  ExpectCheckpointCovers(loop.Scenario(), result.oracle, loop.BootstrapServers());
}

}  // namespace
}  // namespace outbox_relay::it
