// Crash acceptance test: the relay SIGKILLed mid-stream, three times, and restarted.

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

}  // namespace
}  // namespace outbox_relay::it
