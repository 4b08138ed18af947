// Crash acceptance tests: the relay SIGKILLed mid-stream and restarted, in both delivery modes.

#include <gtest/gtest.h>

#include <iostream>

#include "support/crash_loop.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// SIGKILLed three times while events flow and restarted each time, the relay still delivers
// every committed event (duplicates allowed and counted), first deliveries keep per-aggregate
// order, and after each kill the slot's confirmed_flush_lsn is never ahead of what Kafka holds:
// every event whose commit end LSN (independent test_decoding oracle) is <= it is in Kafka.
TEST_F(RelayIntegrationTest, SurvivesSigkillWithoutLossAndNeverConfirmsAheadOfKafka) {
  CrashLoopOptions options;
  options.workload.events_per_second = 400;  // ~25 s of writes, so the kills land mid-stream
  options.faults = Repeat(Fault::kKillRelay, 3);
  options.first_fault_at = 0.15;
  options.last_fault_at = 0.83;
  options.min_downtime = 200ms;
  options.max_downtime = 4000ms;
  CrashLoop loop(CreateDatabase(), suffix_, options);
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(loop.RelayConfig())), "relay");
  const CrashLoopResult result = loop.Run(relay, temp_->Path());
  ExpectNoLossInOrder(result);
  std::cout << "[ info ] test took " << Seconds(result.elapsed) << "\n";
}

// The exactly-once kill loop in small (the fault matrix runs 50 kills on PostgreSQL 15): five
// SIGKILLs while events flow, on every PostgreSQL major of scripts/test.sh --pg-versions. Lost 0,
// duplicated 0, reordered 0, and the Kafka checkpoint covers what the slot confirmed.
TEST_F(RelayIntegrationTest, ExactlyOnceSigkillLoopDuplicatesNothing) {
  CrashLoopOptions options;
  options.delivery = Delivery::kExactlyOnce;
  options.workload = WorkloadOptions::Sized(1000, 200, 1, 250);  // 4,000 events, ~16 s
  options.faults = Repeat(Fault::kKillRelay, 5);
  options.first_fault_at = 0.1;
  options.last_fault_at = 0.9;
  options.min_downtime = 0ms;
  options.max_downtime = 500ms;
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
