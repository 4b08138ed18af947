#include "support/crash_loop.hpp"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/crash_loop_run.hpp"
#include "support/harness_env.hpp"

namespace outbox_relay::it {
namespace crash_loop_detail {

using namespace std::chrono_literals;

[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

std::string Since(Clock::time_point start) { return "+" + Seconds(Clock::now() - start); }

LoopRun::LoopRun(TestDatabase& db, const CrashLoopOptions& options, const KafkaScenario& scenario,
                 RelayProcess& relay, std::string log_dir, const std::string& bootstrap_servers)
    : db(db),
      options(options),
      scenario(scenario),
      log_dir(std::move(log_dir)),
      kafka(bootstrap_servers, scenario.topics),
      rng(options.workload.seed ^ 0x9e3779b97f4a7c15ull),
      relay(relay, db, scenario.slot, options.relay_may_exit, start) {}

namespace {

// The loop: the relay streams, the writer commits the workload, a fault strikes at each fault
// point, and once the writer is done everything is drained and analysed.
CrashLoopResult RunLoop(LoopRun& run) {
  run.relay.Process().Start();
  run.relay.AwaitStreaming("first start");
  WorkloadOptions workload = run.options.workload;
  const std::vector<Fault>& faults = run.options.faults;
  if (std::count(faults.begin(), faults.end(), Fault::kRestartPostgres) > 0) {
    workload.reconnect_conninfo = Harness().ConnInfo(run.db.Name());
  }
  BackgroundWriter writer(run.db.Connect(), workload);
  run.streaming_since = Clock::now();
  for (int k = 1; k <= static_cast<int>(faults.size()); ++k) {
    const FaultPoint point = AwaitFaultPoint(run, k, writer);
    InjectFault(run, faults[static_cast<std::size_t>(k - 1)], point, writer);
    ++run.result.faults;
  }
  if (!writer.WaitFor(300s)) Fail("the writer did not finish within 300 s after the last fault");
  if (!writer.Error().empty()) Fail("writer failed: " + writer.Error());
  run.result.written = writer.Result();
  Drain(run);
  return std::move(run.result);
}

}  // namespace
}  // namespace crash_loop_detail

CrashLoop::CrashLoop(TestDatabase& db, const std::string& suffix, CrashLoopOptions options)
    : db_(db), options_(std::move(options)) {
  options_.workload.seed = std::random_device{}();
  scenario_ = KafkaScenario::Make(suffix, options_.workload);
  scenario_.DropSlotsAtEnd(db_);
  std::cout << "[ info ] " << DeliveryName(options_.delivery) << ", seed "
            << options_.workload.seed << ", " << options_.workload.TotalEvents()
            << " events over " << options_.workload.aggregates << " aggregates, "
            << options_.faults.size() << " faults, topics " << scenario_.topic_template
            << ", slot " << scenario_.slot << ", Kafka " << BootstrapServers() << "\n";
  PgConnection conn = db_.Connect();
  CreateOtherTable(conn);
  CreateOracleSlot(conn, scenario_.oracle_slot);  // before any event is written
}

std::string CrashLoop::BootstrapServers() const {
  return options_.broker != nullptr ? options_.broker->BootstrapServers()
                                    : Harness().kafka_bootstrap_servers;
}

RelayConfigOptions CrashLoop::RelayConfig() const {
  RelayConfigOptions config = scenario_.RelayConfig(db_, Harness(), options_.delivery);
  config.bootstrap_servers = BootstrapServers();
  config.max_in_flight_events = options_.max_in_flight_events;
  return config;
}

CrashLoopResult CrashLoop::Run(RelayProcess& relay, const std::string& log_dir) {
  crash_loop_detail::LoopRun run(db_, options_, scenario_, relay, log_dir, BootstrapServers());
  return crash_loop_detail::RunLoop(run);
}

const char* FaultName(Fault fault) {
  switch (fault) {
    case Fault::kKillRelay:
      return "relay-kill-9";
    case Fault::kRestartKafka:
      return "broker-restart";
    case Fault::kRestartPostgres:
      return "postgres-restart";
    case Fault::kTerminateWalsender:
      return "walsender-terminate";
    case Fault::kPartitionKafka:
      return "network-partition";
    case Fault::kFillBrokerDisk:
      return "broker-disk-full";
  }
  return "unknown";
}

std::vector<Fault> Repeat(Fault fault, int count) {
  return std::vector<Fault>(static_cast<std::size_t>(count), fault);
}

std::string FaultLine(const std::string& name, Delivery delivery, const CrashLoopResult& result) {
  std::ostringstream line;
  line << "fault=" << name << " mode=" << DeliveryName(delivery) << " cycles=" << result.faults
       << " events=" << result.report.committed << " lost=" << result.report.lost
       << " duplicated=" << result.report.duplicated << " reordered=" << result.report.reordered
       << " peak_rss_kib=" << result.peak_rss_kib << " seconds="
       << std::chrono::duration_cast<std::chrono::seconds>(result.elapsed).count();
  return line.str();
}

}  // namespace outbox_relay::it
