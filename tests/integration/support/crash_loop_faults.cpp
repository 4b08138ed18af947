// The crash loop's faults: when one strikes (a fault point) and what each does, with the
// snapshot of what the slot confirmed against what Kafka held afterwards.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "support/crash_loop_run.hpp"
#include "support/fault_broker.hpp"
#include "support/harness_env.hpp"
#include "support/lsn_text.hpp"

namespace outbox_relay::it::crash_loop_detail {

using namespace std::chrono_literals;

std::string FaultPoint::Describe() const {
  return "fault point reached at " + std::to_string(threshold) + " events committed, then waited " +
         Seconds(flow_wait) + " for a new event in Kafka";
}

namespace {

FaultBroker& Broker(const LoopRun& run, Fault fault) {
  if (run.options.broker == nullptr) {
    Fail(std::string(FaultName(fault)) + " needs CrashLoopOptions::broker");
  }
  return *run.options.broker;
}

void KillRelay(LoopRun& run, const FaultPoint& point, const BackgroundWriter& writer) {
  const pid_t pid = run.relay.Process().Pid();
  const int committed_at_kill = writer.Committed();
  const bool writer_done = writer.Done();
  const auto kill_sent = Clock::now();
  run.relay.Process().Kill();  // SIGKILL by pid, reaped
  ++run.result.kills;
  if (!run.db.WaitForSlot(run.scenario.slot, false, 30s)) {
    Fail("slot still active 30 s after SIGKILL " + std::to_string(point.k));
  }
  const auto inactive_at = Clock::now();
  const std::uint64_t confirmed = run.relay.ConfirmedFlushLsn();
  const std::uint64_t previous =
      run.kafka.Snapshots().empty() ? 0 : run.kafka.Snapshots().back().confirmed_flush_lsn;
  const std::size_t previous_ids =
      run.kafka.Snapshots().empty() ? 0 : run.kafka.Snapshots().back().ids.size();
  run.kafka.Snapshot(point.k, confirmed, committed_at_kill);
  std::cout << "[ fault " << point.k << " ] at +" << Seconds(kill_sent - run.start)
            << ": relay pid " << pid << " SIGKILLed with " << committed_at_kill
            << " events committed"
            << (writer_done ? " (writer already finished)" : "") << " (" << point.Describe()
            << "); " << run.kafka.LastSnapshotText() << " (slot inactive after "
            << Seconds(inactive_at - kill_sent) << ", Kafka read "
            << Seconds(Clock::now() - inactive_at) << ")\n";
  if (run.kafka.Snapshots().size() > 1 && previous == confirmed) {
    std::cout << "[ fault " << point.k << " ] note: the relay run never advanced the slot although it delivered "
              << run.kafka.Snapshots().back().ids.size() - previous_ids << " new events in "
              << Seconds(kill_sent - run.streaming_since) << " of streaming\n";
  }
}

// A crash comes with some downtime: the restarted relay starts with a backlog.
void Restart(LoopRun& run, int k, const BackgroundWriter& writer) {
  std::chrono::milliseconds downtime(std::uniform_int_distribution<long>(
      run.options.min_downtime.count(), run.options.max_downtime.count())(run.rng));
  if (const char* fixed = std::getenv("OUTBOX_RELAY_IT_DOWNTIME_MS")) {
    downtime = std::chrono::milliseconds(std::atoi(fixed));
  }
  std::this_thread::sleep_for(downtime);
  run.relay.Process().Start();
  run.relay.AwaitStreaming("restart " + std::to_string(k));
  run.streaming_since = Clock::now();
  std::cout << "[ fault " << k << " ] at " << run.At() << ": restarted relay (after "
            << Seconds(downtime) << " of downtime) is streaming, " << writer.Committed()
            << " events committed\n";
}

// A server restart or a dropped replication connection under a running relay: the relay
// carries on (reconnecting) by itself.
void Interrupt(LoopRun& run, Fault fault, const FaultPoint& point, const BackgroundWriter& writer) {
  const int committed = writer.Committed();
  const auto began = Clock::now();
  std::optional<std::int64_t> walsender;
  std::string what;
  if (fault == Fault::kRestartKafka && run.options.broker != nullptr) {
    run.options.broker->Restart();
    what = "fault broker restarted";
  } else if (fault == Fault::kRestartKafka) {
    RunHarnessCommand("restart-kafka", run.log_dir, 180s);
    what = "harness.sh restart-kafka";
  } else if (fault == Fault::kRestartPostgres) {
    RunHarnessCommand("restart-pg", run.log_dir, 180s);
    what = "harness.sh restart-pg";
  } else {
    walsender = run.db.Slot(run.scenario.slot).value_or(SlotState{}).active_pid;
    if (!walsender) Fail("no walsender holds slot " + run.scenario.slot + " to terminate");
    PgConnection conn = run.db.Connect();
    conn.ExecParams("SELECT pg_terminate_backend($1::int)", {std::to_string(*walsender)});
    what = "walsender pid " + std::to_string(*walsender) + " terminated";
  }
  const auto took = Clock::now() - began;
  // PostgreSQL restarted or the walsender gone: the relay must take the slot again.
  run.relay.AwaitStreaming(std::string("after ") + FaultName(fault), walsender);
  run.relay.KeepRunning(std::string("after ") + FaultName(fault));
  run.kafka.Snapshot(point.k, run.relay.ConfirmedFlushLsn(), writer.Committed());
  std::cout << "[ fault " << point.k << " ] at +" << Seconds(began - run.start) << ": " << what
            << " in " << Seconds(took) << " with " << committed << " events committed ("
            << point.Describe() << "); relay streaming again at " << run.At() << "; "
            << run.kafka.LastSnapshotText() << "\n";
}

// The broker unreachable for fault_duration: Kafka is frozen at what was read just before,
// so every position the slot confirms meanwhile is checked against that.
void Partition(LoopRun& run, const FaultPoint& point, const BackgroundWriter& writer) {
  FaultBroker& broker = Broker(run, Fault::kPartitionKafka);
  // A stopped relay sends nothing: what it sent before lands, then Kafka holds still and is
  // read completely before the partition starts.
  run.relay.Process().Signal(SIGSTOP);
  std::size_t records = 0;
  do {
    records = run.kafka.Records().size();
    std::this_thread::sleep_for(500ms);
    run.kafka.CatchUp(60s);
  } while (run.kafka.Records().size() != records);
  std::uint64_t confirmed = run.relay.ConfirmedFlushLsn();
  broker.Partition();
  run.relay.Process().Signal(SIGCONT);
  const auto began = Clock::now();
  const int committed = writer.Committed();
  run.kafka.Snapshot(point.k, confirmed, committed, false);
  std::cout << "[ fault " << point.k << " ] at " << run.At() << ": broker partitioned away for "
            << run.options.fault_duration.count() << " s with " << committed
            << " events committed (" << point.Describe() << "); " << run.kafka.LastSnapshotText()
            << "\n";
  const std::uint64_t confirmed_at_start = confirmed;
  int moves = 0;
  while (Clock::now() < began + run.options.fault_duration) {
    std::this_thread::sleep_for(1s);
    run.relay.KeepRunning("during the partition");
    run.relay.Process().SamplePeakRss();
    const std::uint64_t now_confirmed = run.relay.ConfirmedFlushLsn();
    if (now_confirmed != confirmed) {
      confirmed = now_confirmed;
      ++moves;
      run.kafka.Snapshot(point.k, confirmed, writer.Committed(), false);
    }
  }
  broker.Heal();
  std::cout << "[ fault " << point.k << " ] at " << run.At() << ": partition healed after "
            << Seconds(Clock::now() - began) << "; meanwhile " << writer.Committed() - committed
            << " more events were committed, the slot moved " << moves << " times ("
            << FormatLsn(confirmed_at_start) << " -> " << FormatLsn(confirmed)
            << "), relay peak RSS so far " << run.relay.Process().PeakRssKib() << " KiB\n";
}

// The broker's log dir full for fault_duration; then space is freed and the broker restarted
// (a Kafka broker takes a failed log dir offline until it restarts) while the relay is
// stopped, and what the slot confirmed is checked against what Kafka kept.
void FillBrokerDisk(LoopRun& run, const FaultPoint& point, const BackgroundWriter& writer) {
  FaultBroker& broker = Broker(run, Fault::kFillBrokerDisk);
  const int committed = writer.Committed();
  broker.FillDisk();
  const auto began = Clock::now();
  std::cout << "[ fault " << point.k << " ] at " << run.At() << ": broker log dir filled with "
            << committed << " events committed (" << point.Describe() << ")\n";
  std::optional<Clock::duration> broker_died_after;
  while (Clock::now() < began + run.options.fault_duration) {
    std::this_thread::sleep_for(1s);
    run.relay.KeepRunning("while the broker's disk is full");
    run.relay.Process().SamplePeakRss();
    if (!broker_died_after && !broker.Running()) broker_died_after = Clock::now() - began;
  }
  // Frozen until Kafka was read after the restart: Kafka then holds exactly what it
  // persisted, and the slot may not be ahead of it. (A running relay would re-send first.)
  run.relay.Process().Signal(SIGSTOP);
  std::this_thread::sleep_for(500ms);  // a status update already sent lands
  const std::uint64_t confirmed_while_full = run.relay.ConfirmedFlushLsn();
  broker.FreeDisk();
  broker.Restart();
  run.kafka.Snapshot(point.k, confirmed_while_full, writer.Committed());
  run.relay.Process().Signal(SIGCONT);
  std::cout << "[ fault " << point.k << " ] at " << run.At() << ": disk full for "
            << Seconds(Clock::now() - began) << " (the broker "
            << (broker_died_after ? "stopped itself after " + Seconds(*broker_died_after)
                                  : std::string("kept running"))
            << "), freed and broker restarted; " << run.kafka.LastSnapshotText() << "\n";
}

}  // namespace

FaultPoint AwaitFaultPoint(LoopRun& run, int k, const BackgroundWriter& writer) {
  const double width =
      (run.options.last_fault_at - run.options.first_fault_at) /
      static_cast<double>(run.options.faults.size());
  std::uniform_real_distribution<double> where(run.options.first_fault_at + width * (k - 1),
                                               run.options.first_fault_at + width * k);
  FaultPoint point;
  point.k = k;
  point.threshold = static_cast<int>(where(run.rng) * run.options.workload.TotalEvents());
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
  const std::size_t before = run.kafka.DistinctEvents();
  const auto flow_start = Clock::now();
  while (true) {
    run.kafka.CatchUp(60s);
    if (run.kafka.DistinctEvents() > before ||
        (writer.Done() &&
         run.kafka.DistinctEvents() >= static_cast<std::size_t>(writer.Committed()))) {
      break;
    }
    if (Clock::now() >= flow_start + 60s) {
      ADD_FAILURE() << "the relay (pid " << run.relay.Process().Pid()
                    << ") delivered no new event within 60 s of fault point " << k << ", with "
                    << writer.Committed() << " events committed and " << before << " in Kafka";
      break;
    }
    run.relay.KeepRunning("before fault point " + std::to_string(k));
    std::this_thread::sleep_for(100ms);
  }
  point.flow_wait = Clock::now() - flow_start;
  std::this_thread::sleep_for(std::chrono::milliseconds(
      std::uniform_int_distribution<int>(0, 400)(run.rng)));  // not always right after a commit
  run.relay.KeepRunning("before fault point " + std::to_string(k));
  return point;
}

void InjectFault(LoopRun& run, Fault fault, const FaultPoint& point,
                 const BackgroundWriter& writer) {
  switch (fault) {
    case Fault::kKillRelay:
      KillRelay(run, point, writer);
      Restart(run, point.k, writer);
      return;
    case Fault::kRestartKafka:
    case Fault::kRestartPostgres:
    case Fault::kTerminateWalsender:
      Interrupt(run, fault, point, writer);
      return;
    case Fault::kPartitionKafka:
      Partition(run, point, writer);
      return;
    case Fault::kFillBrokerDisk:
      FillBrokerDisk(run, point, writer);
      return;
  }
}

}  // namespace outbox_relay::it::crash_loop_detail
