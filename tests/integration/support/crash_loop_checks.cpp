// The end of a crash-loop run (everything committed drained from Kafka, SIGTERM, the
// analysis against the ledger and the commit oracle) and the expectations the crash tests
// check on its result.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <string>
#include <unordered_set>
#include <vector>

#include "support/crash_loop.hpp"
#include "support/crash_loop_run.hpp"
#include "support/kafka_reader.hpp"
#include "support/lsn_text.hpp"

namespace outbox_relay::it {

using namespace std::chrono_literals;

namespace crash_loop_detail {

// Everything committed reaches Kafka; then SIGTERM, and the analysis.
void Drain(LoopRun& run) {
  CrashLoopResult& result = run.result;
  const WorkloadResult& written = result.written;
  std::cout << "[ info ] wrote " << written.committed_events << " events in "
            << written.committed_transactions << " transactions, "
            << written.rolled_back_transactions << " rolled-back transactions ("
            << written.rolled_back_ids.size() << " events), "
            << written.other_table_transactions << " other_table-only transactions, in "
            << Seconds(written.elapsed) << "; writer reconnects " << written.reconnects
            << ", commits found after a failed COMMIT " << written.commits_found_after_error
            << "\n";

  PgConnection conn = run.db.Connect();
  result.ledger = ReadLedger(conn);
  if (result.ledger.size() != written.committed_ids.size()) {
    Fail("the outbox holds " + std::to_string(result.ledger.size()) +
         " rows but the writer committed " + std::to_string(written.committed_ids.size()));
  }
  result.oracle = ReadCommitOracle(conn, run.scenario.oracle_slot);
  if (!result.oracle.anomalies.empty()) Fail("oracle: " + result.oracle.anomalies.front());
  if (result.oracle.commit_end_lsn.size() != result.ledger.size()) {
    Fail("the commit oracle knows " + std::to_string(result.oracle.commit_end_lsn.size()) +
         " of " + std::to_string(result.ledger.size()) + " events");
  }

  std::unordered_set<std::string> wanted;
  for (const auto& event : result.ledger) wanted.insert(event.id);
  const auto wait_start = Clock::now();
  const auto deadline = wait_start + 240s;
  while (true) {
    run.relay.KeepRunning("while draining the backlog");
    result.delivered = WaitForDelivery(
        run.kafka.Reader(),
        wanted, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
        [&] { return run.relay.Process().Running(); });
    if (result.delivered >= wanted.size() || Clock::now() >= deadline) break;
  }
  std::cout << "[ info ] " << result.delivered << " of " << wanted.size()
            << " events read from Kafka (waited " << Seconds(Clock::now() - wait_start)
            << ")\n";

  run.relay.Process().Signal(SIGTERM);
  result.final_exit = run.relay.Process().WaitFor(60s);
  if (!result.final_exit) Fail("the relay did not exit within 60 s of SIGTERM");
  if (!run.db.WaitForSlot(run.scenario.slot, false, 30s)) {
    Fail("slot still active 30 s after the relay exited");
  }
  if (const auto slot = run.db.Slot(run.scenario.slot); slot && slot->confirmed_flush_lsn) {
    result.final_confirmed_flush_lsn = slot->confirmed_flush_lsn;
  } else {
    Fail("slot " + run.scenario.slot + " vanished");
  }
  std::cout << "[ info ] slot confirmed_flush_lsn "
            << FormatLsn(*result.final_confirmed_flush_lsn) << " after SIGTERM ("
            << result.final_exit->Describe() << "), last outbox commit end (oracle) "
            << FormatLsn(result.oracle.max_commit_end_lsn) << "\n";
  run.kafka.CatchUp(120s);

  AnalysisOptions analysis;
  analysis.topic_template = run.scenario.topic_template;
  analysis.oracle = &result.oracle;
  analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(),
                                  written.rolled_back_ids.end());
  result.report = Analyze(result.ledger, run.kafka.Records(), analysis);
  result.elapsed = Clock::now() - run.start;
  result.peak_rss_kib = run.relay.Process().PeakRssKib();  // SIGTERM sampled the last run
  result.self_exits = run.relay.SelfExits();
  result.snapshots = run.kafka.TakeSnapshots();
  std::cout << "[ oracle ] " << result.report.Summary() << "\n";
  std::cout << "[ oracle ] " << DeliveryName(run.options.delivery) << ": lost="
            << result.report.lost << " duplicated=" << result.report.duplicated
            << " reordered=" << result.report.reordered << " (" << result.faults
            << " faults of which " << result.kills << " kills, " << result.self_exits
            << " relay exits by itself, " << Seconds(result.elapsed) << ")\n";
}

}  // namespace crash_loop_detail

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
