#include "support/crash_loop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>
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

// One run of the loop: the relay, the writer, the reader and what was observed so far.
class Runner {
 public:
  Runner(TestDatabase& db, const CrashLoopOptions& options, const KafkaScenario& scenario,
         RelayProcess& relay, std::string log_dir, const std::string& bootstrap_servers)
      : db_(db),
        options_(options),
        scenario_(scenario),
        relay_(relay),
        log_dir_(std::move(log_dir)),
        reader_(bootstrap_servers, scenario.topics),
        rng_(options.workload.seed ^ 0x9e3779b97f4a7c15ull) {}

  CrashLoopResult Run() {
    relay_.Start();
    AwaitStreaming("first start");
    WorkloadOptions workload = options_.workload;
    if (std::count(options_.faults.begin(), options_.faults.end(), Fault::kRestartPostgres) > 0) {
      workload.reconnect_conninfo = Harness().ConnInfo(db_.Name());
    }
    BackgroundWriter writer(db_.Connect(), workload);
    streaming_since_ = Clock::now();
    for (int k = 1; k <= static_cast<int>(options_.faults.size()); ++k) {
      const FaultPoint point = AwaitFaultPoint(k, writer);
      Inject(options_.faults[static_cast<std::size_t>(k - 1)], point, writer);
      ++result_.faults;
    }
    if (!writer.WaitFor(300s)) Fail("the writer did not finish within 300 s after the last fault");
    if (!writer.Error().empty()) Fail("writer failed: " + writer.Error());
    result_.written = writer.Result();
    Drain();
    return std::move(result_);
  }

 private:
  // Where a fault point was reached, for the log.
  struct FaultPoint {
    int k = 0;
    int threshold = 0;                 // events committed that the point waited for
    Clock::duration flow_wait{};       // then waited for this relay run's first new event
    std::string Describe() const {
      return "fault point reached at " + std::to_string(threshold) + " events committed, then waited " +
             Seconds(flow_wait) + " for a new event in Kafka";
    }
  };

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

  // Until the slot is held by a walsender other than `old_pid` (any, when nullopt). The slot
  // may be unreadable meanwhile (PostgreSQL restarting).
  void AwaitStreaming(const std::string& when, std::optional<std::int64_t> old_pid = std::nullopt) {
    const auto deadline = Clock::now() + 60s;
    while (true) {
      try {
        const auto slot = db_.Slot(scenario_.slot);
        if (slot && slot->active && slot->active_pid != old_pid) return;
      } catch (const PgError& e) {
        if (Clock::now() >= deadline) throw;
      }
      KeepRunning(when);
      if (Clock::now() >= deadline) {
        Fail("the relay did not activate slot " + scenario_.slot + " within 60 s (" + when + ")");
      }
      std::this_thread::sleep_for(200ms);
    }
  }

  std::uint64_t ConfirmedFlushLsn() {
    const auto slot = db_.Slot(scenario_.slot);
    if (!slot || !slot->confirmed_flush_lsn) Fail("slot " + scenario_.slot + " vanished");
    return *slot->confirmed_flush_lsn;
  }

  // Records what the slot confirmed (`confirmed`, read before Kafka was) against what Kafka
  // holds, read now unless `read_kafka` is false (the broker unreachable: what was read last).
  void Snapshot(int k, std::uint64_t confirmed, int committed, bool read_kafka = true) {
    if (read_kafka) CatchUp(120s);
    AckSnapshot snapshot;
    snapshot.fault_point = k;
    snapshot.confirmed_flush_lsn = confirmed;
    snapshot.committed_when_taken = committed;
    snapshot.ids = seen_;
    snapshot.records = reader_.Records().size();
    result_.snapshots.push_back(std::move(snapshot));
  }

  std::string SnapshotText() const {
    const AckSnapshot& last = result_.snapshots.back();
    return "slot confirmed_flush_lsn " + FormatLsn(last.confirmed_flush_lsn) + ", Kafka holds " +
           std::to_string(last.ids.size()) + " distinct events in " +
           std::to_string(last.records) + " records";
  }

  FaultPoint AwaitFaultPoint(int k, const BackgroundWriter& writer) {
    const double width =
        (options_.last_fault_at - options_.first_fault_at) / static_cast<double>(options_.faults.size());
    std::uniform_real_distribution<double> where(options_.first_fault_at + width * (k - 1),
                                                 options_.first_fault_at + width * k);
    FaultPoint point;
    point.k = k;
    point.threshold = static_cast<int>(where(rng_) * options_.workload.TotalEvents());
    const auto deadline = Clock::now() + 300s;
    while (writer.Committed() < point.threshold && !writer.Done() && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    if (writer.Done() && !writer.Error().empty()) Fail("writer failed: " + writer.Error());
    if (!writer.Done() && writer.Committed() < point.threshold) {
      Fail("the writer is too slow (fault point " + std::to_string(k) + ")");
    }
    // Strike only while the relay is delivering: wait (bounded) until Kafka holds events it did
    // not hold at the previous fault, unless everything committed is already there.
    const std::size_t before = seen_.size();
    const auto flow_start = Clock::now();
    while (true) {
      CatchUp(60s);
      if (seen_.size() > before ||
          (writer.Done() && seen_.size() >= static_cast<std::size_t>(writer.Committed()))) {
        break;
      }
      if (Clock::now() >= flow_start + 60s) {
        ADD_FAILURE() << "the relay (pid " << relay_.Pid()
                      << ") delivered no new event within 60 s of fault point " << k << ", with "
                      << writer.Committed() << " events committed and " << before << " in Kafka";
        break;
      }
      KeepRunning("before fault point " + std::to_string(k));
      std::this_thread::sleep_for(100ms);
    }
    point.flow_wait = Clock::now() - flow_start;
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 400)(rng_)));  // not always right after a commit
    KeepRunning("before fault point " + std::to_string(k));
    return point;
  }

  void Inject(Fault fault, const FaultPoint& point, const BackgroundWriter& writer) {
    switch (fault) {
      case Fault::kKillRelay:
        KillRelay(point, writer);
        Restart(point.k, writer);
        return;
      case Fault::kRestartKafka:
      case Fault::kRestartPostgres:
      case Fault::kTerminateWalsender:
        Interrupt(fault, point, writer);
        return;
      case Fault::kPartitionKafka:
        Partition(point, writer);
        return;
      case Fault::kFillBrokerDisk:
        FillBrokerDisk(point, writer);
        return;
    }
  }

  FaultBroker& Broker(Fault fault) const {
    if (options_.broker == nullptr) {
      Fail(std::string(FaultName(fault)) + " needs CrashLoopOptions::broker");
    }
    return *options_.broker;
  }

  void KillRelay(const FaultPoint& point, const BackgroundWriter& writer) {
    const pid_t pid = relay_.Pid();
    const int committed_at_kill = writer.Committed();
    const bool writer_done = writer.Done();
    const auto kill_sent = Clock::now();
    relay_.Kill();  // SIGKILL by pid, reaped
    ++result_.kills;
    if (!db_.WaitForSlot(scenario_.slot, false, 30s)) {
      Fail("slot still active 30 s after SIGKILL " + std::to_string(point.k));
    }
    const auto inactive_at = Clock::now();
    const std::uint64_t confirmed = ConfirmedFlushLsn();
    const std::uint64_t previous =
        result_.snapshots.empty() ? 0 : result_.snapshots.back().confirmed_flush_lsn;
    const std::size_t previous_ids = result_.snapshots.empty() ? 0 : result_.snapshots.back().ids.size();
    Snapshot(point.k, confirmed, committed_at_kill);
    std::cout << "[ fault " << point.k << " ] at +" << Seconds(kill_sent - start_) << ": relay pid "
              << pid << " SIGKILLed with " << committed_at_kill << " events committed"
              << (writer_done ? " (writer already finished)" : "") << " (" << point.Describe()
              << "); " << SnapshotText() << " (slot inactive after "
              << Seconds(inactive_at - kill_sent) << ", Kafka read "
              << Seconds(Clock::now() - inactive_at) << ")\n";
    if (result_.snapshots.size() > 1 && previous == confirmed) {
      std::cout << "[ fault " << point.k << " ] note: the relay run never advanced the slot although it delivered "
                << result_.snapshots.back().ids.size() - previous_ids << " new events in "
                << Seconds(kill_sent - streaming_since_) << " of streaming\n";
    }
  }

  // A crash comes with some downtime: the restarted relay starts with a backlog.
  void Restart(int k, const BackgroundWriter& writer) {
    std::chrono::milliseconds downtime(std::uniform_int_distribution<long>(
        options_.min_downtime.count(), options_.max_downtime.count())(rng_));
    if (const char* fixed = std::getenv("OUTBOX_RELAY_IT_DOWNTIME_MS")) {
      downtime = std::chrono::milliseconds(std::stoi(fixed));
    }
    std::this_thread::sleep_for(downtime);
    relay_.Start();
    AwaitStreaming("restart " + std::to_string(k));
    streaming_since_ = Clock::now();
    std::cout << "[ fault " << k << " ] at " << At() << ": restarted relay (after "
              << Seconds(downtime) << " of downtime) is streaming, " << writer.Committed()
              << " events committed\n";
  }

  // A server restart or a dropped replication connection under a running relay: the relay
  // carries on (reconnecting) by itself.
  void Interrupt(Fault fault, const FaultPoint& point, const BackgroundWriter& writer) {
    const int committed = writer.Committed();
    const auto began = Clock::now();
    std::optional<std::int64_t> walsender;
    std::string what;
    if (fault == Fault::kRestartKafka && options_.broker != nullptr) {
      options_.broker->Restart();
      what = "fault broker restarted";
    } else if (fault == Fault::kRestartKafka) {
      RunHarnessCommand("restart-kafka", log_dir_, 180s);
      what = "harness.sh restart-kafka";
    } else if (fault == Fault::kRestartPostgres) {
      RunHarnessCommand("restart-pg", log_dir_, 180s);
      what = "harness.sh restart-pg";
    } else {
      walsender = db_.Slot(scenario_.slot).value_or(SlotState{}).active_pid;
      if (!walsender) Fail("no walsender holds slot " + scenario_.slot + " to terminate");
      PgConnection conn = db_.Connect();
      conn.ExecParams("SELECT pg_terminate_backend($1::int)", {std::to_string(*walsender)});
      what = "walsender pid " + std::to_string(*walsender) + " terminated";
    }
    const auto took = Clock::now() - began;
    // PostgreSQL restarted or the walsender gone: the relay must take the slot again.
    AwaitStreaming(std::string("after ") + FaultName(fault), walsender);
    KeepRunning(std::string("after ") + FaultName(fault));
    Snapshot(point.k, ConfirmedFlushLsn(), writer.Committed());
    std::cout << "[ fault " << point.k << " ] at +" << Seconds(began - start_) << ": " << what
              << " in " << Seconds(took) << " with " << committed << " events committed ("
              << point.Describe() << "); relay streaming again at " << At() << "; "
              << SnapshotText() << "\n";
  }

  // The broker unreachable for fault_duration: Kafka is frozen at what was read just before,
  // so every position the slot confirms meanwhile is checked against that.
  void Partition(const FaultPoint& point, const BackgroundWriter& writer) {
    FaultBroker& broker = Broker(Fault::kPartitionKafka);
    // A stopped relay sends nothing: what it sent before lands, then Kafka holds still and is
    // read completely before the partition starts.
    relay_.Signal(SIGSTOP);
    std::size_t records = 0;
    do {
      records = reader_.Records().size();
      std::this_thread::sleep_for(500ms);
      CatchUp(60s);
    } while (reader_.Records().size() != records);
    std::uint64_t confirmed = ConfirmedFlushLsn();
    broker.Partition();
    relay_.Signal(SIGCONT);
    const auto began = Clock::now();
    const int committed = writer.Committed();
    Snapshot(point.k, confirmed, committed, false);
    std::cout << "[ fault " << point.k << " ] at " << At() << ": broker partitioned away for "
              << options_.fault_duration.count() << " s with " << committed
              << " events committed (" << point.Describe() << "); " << SnapshotText() << "\n";
    const std::uint64_t confirmed_at_start = confirmed;
    int moves = 0;
    while (Clock::now() < began + options_.fault_duration) {
      std::this_thread::sleep_for(1s);
      KeepRunning("during the partition");
      relay_.SamplePeakRss();
      const std::uint64_t now_confirmed = ConfirmedFlushLsn();
      if (now_confirmed != confirmed) {
        confirmed = now_confirmed;
        ++moves;
        Snapshot(point.k, confirmed, writer.Committed(), false);
      }
    }
    broker.Heal();
    std::cout << "[ fault " << point.k << " ] at " << At() << ": partition healed after "
              << Seconds(Clock::now() - began) << "; meanwhile " << writer.Committed() - committed
              << " more events were committed, the slot moved " << moves << " times ("
              << FormatLsn(confirmed_at_start) << " -> " << FormatLsn(confirmed)
              << "), relay peak RSS so far " << relay_.PeakRssKib() << " KiB\n";
  }

  // The broker's log dir full for fault_duration; then space is freed and the broker restarted
  // (a Kafka broker takes a failed log dir offline until it restarts) while the relay is
  // stopped, and what the slot confirmed is checked against what Kafka kept.
  void FillBrokerDisk(const FaultPoint& point, const BackgroundWriter& writer) {
    FaultBroker& broker = Broker(Fault::kFillBrokerDisk);
    const int committed = writer.Committed();
    broker.FillDisk();
    const auto began = Clock::now();
    std::cout << "[ fault " << point.k << " ] at " << At() << ": broker log dir filled with "
              << committed << " events committed (" << point.Describe() << ")\n";
    std::optional<Clock::duration> broker_died_after;
    while (Clock::now() < began + options_.fault_duration) {
      std::this_thread::sleep_for(1s);
      KeepRunning("while the broker's disk is full");
      relay_.SamplePeakRss();
      if (!broker_died_after && !broker.Running()) broker_died_after = Clock::now() - began;
    }
    // Frozen until Kafka was read after the restart: Kafka then holds exactly what it
    // persisted, and the slot may not be ahead of it. (A running relay would re-send first.)
    relay_.Signal(SIGSTOP);
    std::this_thread::sleep_for(500ms);  // a status update already sent lands
    const std::uint64_t confirmed_while_full = ConfirmedFlushLsn();
    broker.FreeDisk();
    broker.Restart();
    Snapshot(point.k, confirmed_while_full, writer.Committed());
    relay_.Signal(SIGCONT);
    std::cout << "[ fault " << point.k << " ] at " << At() << ": disk full for "
              << Seconds(Clock::now() - began) << " (the broker "
              << (broker_died_after ? "stopped itself after " + Seconds(*broker_died_after)
                                    : std::string("kept running"))
              << "), freed and broker restarted; " << SnapshotText() << "\n";
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
    result_.peak_rss_kib = relay_.PeakRssKib();  // SIGTERM sampled the last run
    std::cout << "[ oracle ] " << result_.report.Summary() << "\n";
    std::cout << "[ oracle ] " << DeliveryName(options_.delivery) << ": lost="
              << result_.report.lost << " duplicated=" << result_.report.duplicated
              << " reordered=" << result_.report.reordered << " (" << result_.faults
              << " faults of which " << result_.kills << " kills, " << result_.self_exits
              << " relay exits by itself, " << Seconds(result_.elapsed) << ")\n";
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
  return Runner(db_, options_, scenario_, relay, log_dir, BootstrapServers()).Run();
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

void ExpectNoLossInOrder(const CrashLoopResult& result) {
  const DeliveryReport& report = result.report;
  ASSERT_TRUE(result.final_exit.has_value());
  EXPECT_TRUE(result.final_exit->exited && result.final_exit->code == 0)
      << "after SIGTERM: " << result.final_exit->Describe();
  ASSERT_TRUE(result.final_confirmed_flush_lsn.has_value());
  EXPECT_GE(*result.final_confirmed_flush_lsn, result.oracle.max_commit_end_lsn)
      << "after a clean shutdown the slot must be confirmed up to the last delivered commit";
  ExpectNothingLostOrReordered(report);
  EXPECT_EQ(report.keys_in_several_partitions, 0u);

  for (const auto& snapshot : result.snapshots) {
    std::size_t covered = 0;
    for (const auto& [id, end_lsn] : result.oracle.commit_end_lsn) {
      if (end_lsn <= snapshot.confirmed_flush_lsn) ++covered;
    }
    std::vector<std::string> samples;
    const std::size_t missing =
        CountAcknowledgedButMissing(result.ledger, result.oracle, snapshot, &samples);
    std::cout << "[ fault " << snapshot.fault_point << " ] confirmed_flush_lsn "
              << FormatLsn(snapshot.confirmed_flush_lsn) << " covers " << covered
              << " committed events; in Kafka then: " << snapshot.ids.size()
              << "; confirmed but not in Kafka: " << missing << "\n";
    for (const auto& sample : samples) std::cout << "    " << sample << "\n";
    EXPECT_EQ(missing, 0u) << "fault point " << snapshot.fault_point
                           << ": the slot was confirmed ahead of what Kafka acknowledged";
  }
}

void ExpectCheckpointCovers(const KafkaScenario& scenario, const CommitOracle& oracle,
                            const std::string& bootstrap_servers) {
  std::uint64_t last_event_commit_lsn = 0;
  for (const auto& [id, lsn] : oracle.commit_lsn) {
    last_event_commit_lsn = std::max(last_event_commit_lsn, lsn);
  }
  KafkaReader reader(bootstrap_servers, {scenario.checkpoint_topic});
  reader.CatchUp(60s);
  const CheckpointHistory history = ReadCheckpoints(reader.Records(), scenario.slot);
  std::cout << "[ checkpoint ] " << scenario.checkpoint_topic << ": " << reader.Records().size()
            << " records, " << history.commit_lsns.size() << " for slot " << scenario.slot
            << ", last commit_lsn " << (history.Last() ? FormatLsn(*history.Last()) : "<none>")
            << ", last event's commit LSN " << FormatLsn(last_event_commit_lsn) << ", malformed "
            << history.malformed << ", regressions " << history.regressions << "\n";
  for (const auto& sample : history.samples) std::cout << "    " << sample << "\n";
  ASSERT_TRUE(history.Last().has_value()) << "no checkpoint for slot " << scenario.slot;
  EXPECT_GE(*history.Last(), last_event_commit_lsn)
      << "the last checkpoint is behind the last delivered transaction";
  EXPECT_EQ(history.malformed, 0u);
  EXPECT_EQ(history.regressions, 0u) << "a checkpoint went backwards";
  EXPECT_EQ(history.partitions.size(), 1u) << "the slot's checkpoints are in several partitions";
  const auto config = reader.TopicConfig(scenario.checkpoint_topic, 30s);
  const auto policy = config.find("cleanup.policy");
  EXPECT_TRUE(policy != config.end() && policy->second.find("compact") != std::string::npos)
      << "checkpoint topic cleanup.policy is "
      << (policy != config.end() ? policy->second : "<unset>");
}

}  // namespace outbox_relay::it
