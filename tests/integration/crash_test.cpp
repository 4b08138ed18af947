// Crash acceptance test: the relay SIGKILLed mid-stream, three times, and restarted.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <csignal>
#include <exception>
#include <iostream>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>

#include "support/kafka_reader.hpp"
#include "support/lsn_text.hpp"
#include "support/oracle.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// Runs the workload on a thread of its own; the destructor stops and joins it.
class BackgroundWriter {
 public:
  BackgroundWriter(const TestDatabase& db, const WorkloadOptions& options)
      : options_(options), conn_(db.Connect()) {
    thread_ = std::thread([this] {
      try {
        result_ = RunWorkload(conn_, options_, &committed_, &stop_);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
      done_ = true;
    });
  }
  ~BackgroundWriter() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  int Committed() const { return committed_.load(); }
  bool Done() const { return done_.load(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  const std::string& Error() const { return error_; }
  const WorkloadResult& Result() const { return result_; }

 private:
  WorkloadOptions options_;
  PgConnection conn_;
  std::atomic<int> committed_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  WorkloadResult result_;
  std::string error_;
  std::thread thread_;
};

// SIGKILLed three times while events flow and restarted each time, the relay still delivers
// every committed event (duplicates allowed and counted), first deliveries keep per-aggregate
// order, and after each kill the slot's confirmed_flush_lsn is never ahead of what Kafka holds:
// every event whose commit end LSN (independent test_decoding oracle) is <= it is in Kafka.
TEST_F(RelayIntegrationTest, SurvivesSigkillWithoutLossAndNeverConfirmsAheadOfKafka) {
  const auto test_start = std::chrono::steady_clock::now();
  const HarnessEnv& harness = Harness();
  TestDatabase& db = CreateDatabase();
  WorkloadOptions options;
  options.seed = std::random_device{}();
  options.events_per_second = 400;  // ~25 s of writes, so the kills land mid-stream
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, options);
  db.DropSlotAtEnd(scenario.slot);
  db.DropSlotAtEnd(scenario.oracle_slot);
  db.DropSlotAtEnd(PgOutputOracleSlot(scenario.oracle_slot));
  std::cout << "[ info ] seed " << options.seed << ", topics " << scenario.topic_template
            << ", slot " << scenario.slot << "\n";

  {
    PgConnection conn = db.Connect();
    CreateOtherTable(conn);
    CreateOracleSlot(conn, scenario.oracle_slot);  // before any event is written
  }

  RelayProcess& relay = NewRelay(
      WriteConfig("relay.yaml", RenderRelayConfig(scenario.RelayConfig(db, harness))), "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s))
      << "the relay did not create/activate slot " << scenario.slot << " within 60 s";

  KafkaReader reader(harness.kafka_bootstrap_servers, scenario.topics);
  std::mt19937_64 rng(options.seed ^ 0x9e3779b97f4a7c15ull);
  const int total = options.TotalEvents();
  const double windows[3][2] = {{0.15, 0.30}, {0.42, 0.57}, {0.68, 0.83}};
  std::vector<AckSnapshot> snapshots;

  // Distinct event ids read so far, updated incrementally from the reader's records.
  std::unordered_set<std::string> seen;
  std::size_t scanned = 0;
  auto update_seen = [&] {
    const auto& records = reader.Records();
    for (; scanned < records.size(); ++scanned) {
      if (auto id = records[scanned].Header("id")) seen.insert(*id);
    }
    return seen.size();
  };

  BackgroundWriter writer(db, options);
  auto streaming_since = std::chrono::steady_clock::now();  // when the current relay run began
  for (int k = 1; k <= 3; ++k) {
    std::uniform_real_distribution<double> where(windows[k - 1][0], windows[k - 1][1]);
    const int threshold = static_cast<int>(where(rng) * total);
    const auto deadline = std::chrono::steady_clock::now() + 180s;
    while (writer.Committed() < threshold && !writer.Done() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(writer.Error().empty()) << "writer failed: " << writer.Error();
    ASSERT_TRUE(writer.Done() || writer.Committed() >= threshold)
        << "the writer is too slow (kill " << k << ")";
    // Kill only while this relay run is delivering: wait (bounded) until Kafka holds events it
    // did not hold at the previous kill.
    const std::size_t before = seen.size();
    const auto flow_start = std::chrono::steady_clock::now();
    const auto flow_deadline = flow_start + 60s;
    while (true) {
      reader.CatchUp(60s);
      if (update_seen() > before) break;
      if (std::chrono::steady_clock::now() >= flow_deadline) {
        ADD_FAILURE() << "relay run " << k << " (pid " << relay.Pid()
                      << ") delivered no new event within 60 s of the kill point, with "
                      << writer.Committed() << " events committed and " << before
                      << " in Kafka";
        break;
      }
      std::this_thread::sleep_for(100ms);
    }
    const auto flow_wait = std::chrono::steady_clock::now() - flow_start;
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 400)(rng)));  // not always right after a commit
    ASSERT_TRUE(relay.Running()) << "the relay exited by itself before kill " << k << ": "
                                 << relay.LastExit().value_or(ExitStatus{}).Describe();

    const pid_t pid = relay.Pid();
    const int committed_at_kill = writer.Committed();
    const bool writer_done = writer.Done();
    const auto kill_sent = std::chrono::steady_clock::now();
    relay.Kill();  // SIGKILL by pid, reaped
    ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s))
        << "slot still active 30 s after SIGKILL " << k;
    const auto slot = db.Slot(scenario.slot);
    ASSERT_TRUE(slot && slot->confirmed_flush_lsn);

    const auto inactive_at = std::chrono::steady_clock::now();
    const auto inactive_took = inactive_at - kill_sent;
    AckSnapshot snapshot;
    snapshot.kill = k;
    snapshot.confirmed_flush_lsn = *slot->confirmed_flush_lsn;
    snapshot.committed_when_killed = committed_at_kill;
    reader.CatchUp(120s);
    update_seen();
    snapshot.ids = seen;
    snapshot.records = reader.Records().size();
    const auto snapshot_took = std::chrono::steady_clock::now() - inactive_at;  // reading Kafka
    std::cout << "[ kill " << k << " ] at +" << Seconds(kill_sent - test_start) << ": pid " << pid
              << " SIGKILLed with " << committed_at_kill
              << " events committed" << (writer_done ? " (writer already finished)" : "")
              << " (kill point reached at " << threshold << ", then waited " << Seconds(flow_wait)
              << " for this run's first new event)"
              << "; slot confirmed_flush_lsn " << FormatLsn(snapshot.confirmed_flush_lsn)
              << "; Kafka holds " << snapshot.ids.size() << " distinct events in "
              << snapshot.records << " records (slot inactive after "
              << Seconds(inactive_took) << ", Kafka read " << Seconds(snapshot_took) << ")\n";
    if (!snapshots.empty() &&
        snapshots.back().confirmed_flush_lsn == snapshot.confirmed_flush_lsn) {
      std::cout << "[ kill " << k << " ] note: relay run " << k
                << " never advanced the slot although it delivered "
                << snapshot.ids.size() - snapshots.back().ids.size() << " new events in "
                << Seconds(kill_sent - streaming_since) << " of streaming\n";
    }
    snapshots.push_back(std::move(snapshot));

    // A crash comes with some downtime: the restarted relay starts with a backlog.
    std::chrono::milliseconds downtime(std::uniform_int_distribution<int>(200, 4000)(rng));
    if (const char* fixed = std::getenv("OUTBOX_RELAY_IT_DOWNTIME_MS")) {
      downtime = std::chrono::milliseconds(std::atoi(fixed));
    }
    std::this_thread::sleep_for(downtime);
    relay.Start();
    ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s))
        << "the restarted relay did not activate the slot within 60 s (restart " << k << ")";
    streaming_since = std::chrono::steady_clock::now();
    std::cout << "[ kill " << k << " ] at +" << Seconds(std::chrono::steady_clock::now() - test_start)
              << ": restarted relay (after " << Seconds(downtime)
              << " of downtime) is streaming, " << writer.Committed() << " events committed\n";
  }

  writer.Join();
  ASSERT_TRUE(writer.Error().empty()) << "writer failed: " << writer.Error();
  const WorkloadResult& written = writer.Result();
  std::cout << "[ info ] wrote " << written.committed_events << " events in "
            << written.committed_transactions << " transactions, "
            << written.rolled_back_transactions << " rolled-back transactions ("
            << written.rolled_back_ids.size() << " events), " << written.other_table_transactions
            << " other_table-only transactions, in " << Seconds(written.elapsed) << "\n";

  PgConnection conn = db.Connect();
  const std::vector<LedgerEvent> ledger = ReadLedger(conn);
  ASSERT_EQ(ledger.size(), written.committed_ids.size());
  const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
  ASSERT_TRUE(oracle.anomalies.empty()) << oracle.anomalies.front();
  ASSERT_EQ(oracle.commit_end_lsn.size(), ledger.size());

  std::unordered_set<std::string> wanted;
  for (const auto& event : ledger) wanted.insert(event.id);
  const auto wait_start = std::chrono::steady_clock::now();
  const std::size_t delivered =
      WaitForDelivery(reader, wanted, 240s, [&] { return relay.Running(); });
  std::cout << "[ info ] " << delivered << " of " << wanted.size()
            << " events read from Kafka (waited "
            << Seconds(std::chrono::steady_clock::now() - wait_start) << ")\n";

  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));
  const auto final_slot = db.Slot(scenario.slot);
  ASSERT_TRUE(final_slot && final_slot->confirmed_flush_lsn);
  std::cout << "[ info ] slot confirmed_flush_lsn " << FormatLsn(*final_slot->confirmed_flush_lsn)
            << " after SIGTERM, last outbox commit end (oracle) "
            << FormatLsn(oracle.max_commit_end_lsn) << "\n";
  EXPECT_GE(*final_slot->confirmed_flush_lsn, oracle.max_commit_end_lsn)
      << "after a clean shutdown the slot must be confirmed up to the last delivered commit";
  reader.CatchUp(120s);

  AnalysisOptions analysis;
  analysis.topic_template = scenario.topic_template;
  analysis.oracle = &oracle;
  analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(), written.rolled_back_ids.end());
  const DeliveryReport report = Analyze(ledger, reader.Records(), analysis);
  std::cout << "[ oracle ] " << report.Summary() << "\n";
  std::cout << "[ oracle ] lost=" << report.lost << " duplicated=" << report.duplicated
            << " reordered=" << report.reordered << "\n";

  EXPECT_EQ(report.lost, 0u);
  EXPECT_EQ(report.reordered, 0u);
  EXPECT_EQ(report.rolled_back_delivered, 0u);
  EXPECT_EQ(report.unknown_delivered, 0u);
  EXPECT_EQ(report.keys_in_several_partitions, 0u);
  EXPECT_EQ(report.MismatchTotal(), 0u) << "includes commit_lsn header == oracle, every record";

  for (const auto& snapshot : snapshots) {
    std::size_t covered = 0;
    for (const auto& event : ledger) {
      auto lsn = oracle.commit_end_lsn.find(event.id);
      if (lsn != oracle.commit_end_lsn.end() && lsn->second <= snapshot.confirmed_flush_lsn) {
        ++covered;
      }
    }
    std::vector<std::string> samples;
    const std::size_t missing = CountAcknowledgedButMissing(ledger, oracle, snapshot, &samples);
    std::cout << "[ kill " << snapshot.kill << " ] confirmed_flush_lsn "
              << FormatLsn(snapshot.confirmed_flush_lsn) << " covers " << covered
              << " committed events; in Kafka then: " << snapshot.ids.size()
              << "; confirmed but not in Kafka: " << missing << "\n";
    for (const auto& sample : samples) std::cout << "    " << sample << "\n";
    EXPECT_EQ(missing, 0u) << "kill " << snapshot.kill
                           << ": the slot was confirmed ahead of what Kafka acknowledged";
  }
  std::cout << "[ info ] test took " << Seconds(std::chrono::steady_clock::now() - test_start)
            << "\n";
}

}  // namespace
}  // namespace outbox_relay::it
