#include "support/crash_loop.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>

#include "support/harness_env.hpp"
#include "support/kafka_reader.hpp"
#include "support/lsn_text.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

const char* FaultCommand(ServerFault fault) {
  return fault == ServerFault::kRestartKafka ? "restart-kafka" : "restart-pg";
}

// One run of the loop: the relay, the writer, the reader and what was observed so far.
class Runner {
 public:
  Runner(TestDatabase& db, const CrashLoopOptions& options, const KafkaScenario& scenario,
         RelayProcess& relay, std::string log_dir)
      : db_(db),
        options_(options),
        scenario_(scenario),
        relay_(relay),
        log_dir_(std::move(log_dir)),
        reader_(Harness().kafka_bootstrap_servers, scenario.topics),
        rng_(options.workload.seed ^ 0x9e3779b97f4a7c15ull) {}

  CrashLoopResult Run() {
    relay_.Start();
    AwaitStreaming("first start");
    WorkloadOptions workload = options_.workload;
    for (const auto& [kill, fault] : options_.faults) {
      if (fault == ServerFault::kRestartPostgres) {
        workload.reconnect_conninfo = Harness().ConnInfo(db_.Name());
      }
    }
    BackgroundWriter writer(db_.Connect(), workload);
    streaming_since_ = Clock::now();
    for (int k = 1; k <= options_.kills; ++k) {
      if (auto fault = options_.faults.find(k); fault != options_.faults.end()) {
        RestartServer(fault->second, writer);
      }
      KillAtKillPoint(k, writer);
      Restart(k, writer);
    }
    if (!writer.WaitFor(300s)) Fail("the writer did not finish within 300 s after the last kill");
    if (!writer.Error().empty()) Fail("writer failed: " + writer.Error());
    result_.written = writer.Result();
    Drain();
    return std::move(result_);
  }

 private:
  // Reads Kafka to its current end; a read that fails (the broker restarting) is retried.
  void CatchUp(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      try {
        reader_.CatchUp(std::max<std::chrono::milliseconds>(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()), 5s));
        break;
      } catch (const std::runtime_error& e) {
        if (Clock::now() >= deadline) throw;
        std::cout << "[ kafka ] read failed, retrying: " << e.what() << "\n";
        std::this_thread::sleep_for(500ms);
      }
    }
    const auto& records = reader_.Records();
    for (; scanned_ < records.size(); ++scanned_) {
      if (auto id = records[scanned_].Header("id")) seen_.insert(*id);
    }
  }

  std::string At() const { return "+" + Seconds(Clock::now() - start_); }

  // A relay run that ended by itself: counted and restarted when allowed, a failure otherwise.
  void KeepRunning(const std::string& when) {
    if (relay_.Running()) return;
    ++result_.self_exits;
    const std::string status = relay_.LastExit().value_or(ExitStatus{}).Describe();
    std::cout << "[ relay ] at " << At() << " the relay exited by itself " << when << " ("
              << status << "); its last lines:\n"
              << relay_.StderrTail(4);
    if (!options_.relay_may_exit) Fail("the relay exited by itself " + when + ": " + status);
    relay_.Start();
  }

  void AwaitStreaming(const std::string& when) {
    const auto deadline = Clock::now() + 60s;
    while (!db_.WaitForSlot(scenario_.slot, true, 500ms)) {
      KeepRunning(when);
      if (Clock::now() >= deadline) {
        Fail("the relay did not activate slot " + scenario_.slot + " within 60 s (" + when + ")");
      }
    }
  }

  void RestartServer(ServerFault fault, const BackgroundWriter& writer) {
    const int committed = writer.Committed();
    const auto took = RunHarnessCommand(FaultCommand(fault), log_dir_, 180s);
    std::cout << "[ fault ] at " << At() << ": harness.sh " << FaultCommand(fault) << " took "
              << Seconds(took) << " (" << committed << " events committed before, "
              << writer.Committed() << " after)\n";
  }

  void KillAtKillPoint(int k, const BackgroundWriter& writer) {
    const double width = (options_.last_kill_at - options_.first_kill_at) / options_.kills;
    std::uniform_real_distribution<double> where(options_.first_kill_at + width * (k - 1),
                                                 options_.first_kill_at + width * k);
    const int threshold = static_cast<int>(where(rng_) * options_.workload.TotalEvents());
    const auto deadline = Clock::now() + 300s;
    while (writer.Committed() < threshold && !writer.Done() && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    if (writer.Done() && !writer.Error().empty()) Fail("writer failed: " + writer.Error());
    if (!writer.Done() && writer.Committed() < threshold) {
      Fail("the writer is too slow (kill " + std::to_string(k) + ")");
    }
    // Kill only while this relay run is delivering: wait (bounded) until Kafka holds events it
    // did not hold at the previous kill, unless everything committed is already there.
    const std::size_t before = seen_.size();
    const auto flow_start = Clock::now();
    while (true) {
      CatchUp(60s);
      if (seen_.size() > before ||
          (writer.Done() && seen_.size() >= static_cast<std::size_t>(writer.Committed()))) {
        break;
      }
      if (Clock::now() >= flow_start + 60s) {
        ADD_FAILURE() << "relay run " << k << " (pid " << relay_.Pid()
                      << ") delivered no new event within 60 s of the kill point, with "
                      << writer.Committed() << " events committed and " << before
                      << " in Kafka";
        break;
      }
      KeepRunning("before kill " + std::to_string(k));
      std::this_thread::sleep_for(100ms);
    }
    const auto flow_wait = Clock::now() - flow_start;
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 400)(rng_)));  // not always right after a commit
    KeepRunning("before kill " + std::to_string(k));

    const pid_t pid = relay_.Pid();
    const int committed_at_kill = writer.Committed();
    const bool writer_done = writer.Done();
    const auto kill_sent = Clock::now();
    relay_.Kill();  // SIGKILL by pid, reaped
    ++result_.kills;
    if (!db_.WaitForSlot(scenario_.slot, false, 30s)) {
      Fail("slot still active 30 s after SIGKILL " + std::to_string(k));
    }
    const auto slot = db_.Slot(scenario_.slot);
    if (!slot || !slot->confirmed_flush_lsn) Fail("slot " + scenario_.slot + " vanished");

    const auto inactive_at = Clock::now();
    AckSnapshot snapshot;
    snapshot.kill = k;
    snapshot.confirmed_flush_lsn = *slot->confirmed_flush_lsn;
    snapshot.committed_when_killed = committed_at_kill;
    CatchUp(120s);
    snapshot.ids = seen_;
    snapshot.records = reader_.Records().size();
    std::cout << "[ kill " << k << " ] at +" << Seconds(kill_sent - start_) << ": pid " << pid
              << " SIGKILLed with " << committed_at_kill << " events committed"
              << (writer_done ? " (writer already finished)" : "") << " (kill point reached at "
              << threshold << ", then waited " << Seconds(flow_wait)
              << " for this run's first new event); slot confirmed_flush_lsn "
              << FormatLsn(snapshot.confirmed_flush_lsn) << "; Kafka holds "
              << snapshot.ids.size() << " distinct events in " << snapshot.records
              << " records (slot inactive after " << Seconds(inactive_at - kill_sent)
              << ", Kafka read " << Seconds(Clock::now() - inactive_at) << ")\n";
    auto& snapshots = result_.snapshots;
    if (!snapshots.empty() && snapshots.back().confirmed_flush_lsn == snapshot.confirmed_flush_lsn) {
      std::cout << "[ kill " << k << " ] note: relay run " << k
                << " never advanced the slot although it delivered "
                << snapshot.ids.size() - snapshots.back().ids.size() << " new events in "
                << Seconds(kill_sent - streaming_since_) << " of streaming\n";
    }
    snapshots.push_back(std::move(snapshot));
  }

  // A crash comes with some downtime: the restarted relay starts with a backlog.
  void Restart(int k, const BackgroundWriter& writer) {
    std::chrono::milliseconds downtime(std::uniform_int_distribution<long>(
        options_.min_downtime.count(), options_.max_downtime.count())(rng_));
    if (const char* fixed = std::getenv("OUTBOX_RELAY_IT_DOWNTIME_MS")) {
      downtime = std::chrono::milliseconds(std::atoi(fixed));
    }
    std::this_thread::sleep_for(downtime);
    relay_.Start();
    AwaitStreaming("restart " + std::to_string(k));
    streaming_since_ = Clock::now();
    std::cout << "[ kill " << k << " ] at " << At() << ": restarted relay (after "
              << Seconds(downtime) << " of downtime) is streaming, " << writer.Committed()
              << " events committed\n";
  }

  // Everything committed reaches Kafka; then SIGTERM, and the analysis.
  void Drain() {
    const WorkloadResult& written = result_.written;
    std::cout << "[ info ] wrote " << written.committed_events << " events in "
              << written.committed_transactions << " transactions, "
              << written.rolled_back_transactions << " rolled-back transactions ("
              << written.rolled_back_ids.size() << " events), "
              << written.other_table_transactions << " other_table-only transactions, in "
              << Seconds(written.elapsed) << "; writer reconnects " << written.reconnects
              << ", commits found after a failed COMMIT " << written.commits_found_after_error
              << "\n";

    PgConnection conn = db_.Connect();
    result_.ledger = ReadLedger(conn);
    if (result_.ledger.size() != written.committed_ids.size()) {
      Fail("the outbox holds " + std::to_string(result_.ledger.size()) +
           " rows but the writer committed " + std::to_string(written.committed_ids.size()));
    }
    result_.oracle = ReadCommitOracle(conn, scenario_.oracle_slot);
    if (!result_.oracle.anomalies.empty()) Fail("oracle: " + result_.oracle.anomalies.front());
    if (result_.oracle.commit_end_lsn.size() != result_.ledger.size()) {
      Fail("the commit oracle knows " + std::to_string(result_.oracle.commit_end_lsn.size()) +
           " of " + std::to_string(result_.ledger.size()) + " events");
    }

    std::unordered_set<std::string> wanted;
    for (const auto& event : result_.ledger) wanted.insert(event.id);
    const auto wait_start = Clock::now();
    const auto deadline = wait_start + 240s;
    while (true) {
      KeepRunning("while draining the backlog");
      result_.delivered = WaitForDelivery(
          reader_,
          wanted, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
          [&] { return relay_.Running(); });
      if (result_.delivered >= wanted.size() || Clock::now() >= deadline) break;
    }
    std::cout << "[ info ] " << result_.delivered << " of " << wanted.size()
              << " events read from Kafka (waited " << Seconds(Clock::now() - wait_start)
              << ")\n";

    relay_.Signal(SIGTERM);
    result_.final_exit = relay_.WaitFor(60s);
    if (!result_.final_exit) Fail("the relay did not exit within 60 s of SIGTERM");
    if (!db_.WaitForSlot(scenario_.slot, false, 30s)) {
      Fail("slot still active 30 s after the relay exited");
    }
    if (const auto slot = db_.Slot(scenario_.slot); slot && slot->confirmed_flush_lsn) {
      result_.final_confirmed_flush_lsn = slot->confirmed_flush_lsn;
    } else {
      Fail("slot " + scenario_.slot + " vanished");
    }
    std::cout << "[ info ] slot confirmed_flush_lsn "
              << FormatLsn(*result_.final_confirmed_flush_lsn) << " after SIGTERM ("
              << result_.final_exit->Describe() << "), last outbox commit end (oracle) "
              << FormatLsn(result_.oracle.max_commit_end_lsn) << "\n";
    CatchUp(120s);

    AnalysisOptions analysis;
    analysis.topic_template = scenario_.topic_template;
    analysis.oracle = &result_.oracle;
    analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(),
                                    written.rolled_back_ids.end());
    result_.report = Analyze(result_.ledger, reader_.Records(), analysis);
    result_.elapsed = Clock::now() - start_;
    std::cout << "[ oracle ] " << result_.report.Summary() << "\n";
    std::cout << "[ oracle ] " << DeliveryName(options_.delivery) << ": lost="
              << result_.report.lost << " duplicated=" << result_.report.duplicated
              << " reordered=" << result_.report.reordered << " (" << result_.kills
              << " kills, " << options_.faults.size() << " server restarts, "
              << result_.self_exits << " relay exits by itself, " << Seconds(result_.elapsed)
              << ")\n";
  }

  TestDatabase& db_;
  const CrashLoopOptions& options_;
  const KafkaScenario& scenario_;
  RelayProcess& relay_;
  std::string log_dir_;
  KafkaReader reader_;
  std::mt19937_64 rng_;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point streaming_since_ = start_;  // when the current relay run began
  std::unordered_set<std::string> seen_;        // distinct event ids read so far
  std::size_t scanned_ = 0;                     // reader records already in seen_
  CrashLoopResult result_;
};

}  // namespace

CrashLoop::CrashLoop(TestDatabase& db, const std::string& suffix, CrashLoopOptions options)
    : db_(db), options_(std::move(options)) {
  options_.workload.seed = std::random_device{}();
  scenario_ = KafkaScenario::Make(suffix, options_.workload);
  db_.DropSlotAtEnd(scenario_.slot);
  db_.DropSlotAtEnd(scenario_.oracle_slot);
  db_.DropSlotAtEnd(PgOutputOracleSlot(scenario_.oracle_slot));
  std::cout << "[ info ] " << DeliveryName(options_.delivery) << ", seed "
            << options_.workload.seed << ", " << options_.workload.TotalEvents()
            << " events over " << options_.workload.aggregates << " aggregates, "
            << options_.kills << " kills, topics " << scenario_.topic_template << ", slot "
            << scenario_.slot << "\n";
  PgConnection conn = db_.Connect();
  CreateOtherTable(conn);
  CreateOracleSlot(conn, scenario_.oracle_slot);  // before any event is written
}

RelayConfigOptions CrashLoop::RelayConfig() const {
  return scenario_.RelayConfig(db_, Harness(), options_.delivery);
}

CrashLoopResult CrashLoop::Run(RelayProcess& relay, const std::string& log_dir) {
  return Runner(db_, options_, scenario_, relay, log_dir).Run();
}

void ExpectNoLossInOrder(const CrashLoopResult& result) {
  const DeliveryReport& report = result.report;
  ASSERT_TRUE(result.final_exit.has_value());
  EXPECT_TRUE(result.final_exit->exited && result.final_exit->code == 0)
      << "after SIGTERM: " << result.final_exit->Describe();
  ASSERT_TRUE(result.final_confirmed_flush_lsn.has_value());
  EXPECT_GE(*result.final_confirmed_flush_lsn, result.oracle.max_commit_end_lsn)
      << "after a clean shutdown the slot must be confirmed up to the last delivered commit";
  EXPECT_EQ(report.lost, 0u);
  EXPECT_EQ(report.reordered, 0u);
  EXPECT_EQ(report.rolled_back_delivered, 0u);
  EXPECT_EQ(report.unknown_delivered, 0u);
  EXPECT_EQ(report.keys_in_several_partitions, 0u);
  EXPECT_EQ(report.MismatchTotal(), 0u) << "includes commit_lsn header == oracle, every record";

  for (const auto& snapshot : result.snapshots) {
    std::size_t covered = 0;
    for (const auto& [id, end_lsn] : result.oracle.commit_end_lsn) {
      if (end_lsn <= snapshot.confirmed_flush_lsn) ++covered;
    }
    std::vector<std::string> samples;
    const std::size_t missing =
        CountAcknowledgedButMissing(result.ledger, result.oracle, snapshot, &samples);
    std::cout << "[ kill " << snapshot.kill << " ] confirmed_flush_lsn "
              << FormatLsn(snapshot.confirmed_flush_lsn) << " covers " << covered
              << " committed events; in Kafka then: " << snapshot.ids.size()
              << "; confirmed but not in Kafka: " << missing << "\n";
    for (const auto& sample : samples) std::cout << "    " << sample << "\n";
    EXPECT_EQ(missing, 0u) << "kill " << snapshot.kill
                           << ": the slot was confirmed ahead of what Kafka acknowledged";
  }
}

}  // namespace outbox_relay::it
