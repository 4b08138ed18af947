// Acceptance test of exactly-once delivery (a Kafka transaction per PostgreSQL transaction or
// batch, with a checkpoint record per slot) with a standby relay on the same slot. The crash
// loops, broker and PostgreSQL restarts of both delivery modes are in fault_matrix_test.cpp.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "support/crash_loop.hpp"
#include "support/kafka_reader.hpp"
#include "support/lsn_text.hpp"
#include "support/oracle.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using ExactlyOnceTest = RelayIntegrationTest;

// Which of the two relays holds the slot (application_name of its walsender), sampled over time.
class SlotHolderWatch {
 public:
  SlotHolderWatch(const TestDatabase& db, std::string slot, std::array<std::string, 2> names)
      : conn_(db.Connect()), slot_(std::move(slot)), names_(std::move(names)) {}

  /// Samples once; returns the holder's index or -1 when the slot is not active.
  int Sample() {
    const auto rows = conn_.ExecParams(
        "SELECT (SELECT a.application_name FROM pg_replication_slots s"
        "        JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1),"
        "       (SELECT count(*) FROM pg_stat_replication"
        "        WHERE application_name IN ($2, $3) AND state IN ('catchup', 'streaming'))",
        {slot_, names_[0], names_[1]});
    const PgValue& name = rows.At(0, 0);
    int holder = -1;
    for (int i = 0; i < 2; ++i) {
      if (name && *name == names_[static_cast<std::size_t>(i)]) holder = i;
    }
    max_streaming_ = std::max(max_streaming_, std::stoi(rows.Text(0, 1)));
    ++samples_;
    if (holder >= 0) held_by_.insert(holder);
    if (holder != last_) {
      changes_.push_back("+" + Seconds(Clock::now() - start_) + " " +
                         (holder >= 0 ? names_[static_cast<std::size_t>(holder)] : "none"));
    }
    last_ = holder;
    return holder;
  }

  /// Starts a new observation period (holders seen, changes).
  void Reset() {
    held_by_.clear();
    changes_.clear();
  }
  const std::set<int>& HeldBy() const { return held_by_; }
  int MaxStreaming() const { return max_streaming_; }
  int Samples() const { return samples_; }
  std::string Changes() const {
    std::string text;
    for (const auto& change : changes_) text += (text.empty() ? "" : ", ") + change;
    return text;
  }

 private:
  PgConnection conn_;
  std::string slot_;
  std::array<std::string, 2> names_;
  const Clock::time_point start_ = Clock::now();
  std::set<int> held_by_;
  std::vector<std::string> changes_;
  int last_ = -2;
  int max_streaming_ = 0;
  int samples_ = 0;
};

// The lines of a log that say the relay is retrying because the slot is active elsewhere.
std::vector<std::string> SlotActiveRetryLines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.find("active") != std::string::npos && lower.find("retr") != std::string::npos) {
      lines.push_back(line);
    }
  }
  return lines;
}

// Two exactly-once relays on one slot and transactional id, started together: only the one
// holding the slot streams while the other retries; when the active one is SIGKILLed midway the
// other takes over, and a read_committed consumer sees every event once, in order.
TEST_F(ExactlyOnceTest, StandbyRelayTakesOverTheSlotWithoutDuplicates) {
  const auto test_start = Clock::now();
  const HarnessEnv& harness = Harness();
  TestDatabase& db = CreateDatabase();
  WorkloadOptions workload;
  workload.seed = std::random_device{}();
  workload.single_row_transactions = 3000;  // 3,000 events
  workload.ten_row_transactions = 400;      // 4,000 events
  workload.thousand_row_transactions = 5;   // 5,000 events
  workload.events_per_second = 400;         // ~30 s of writes
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, workload);
  db.DropSlotAtEnd(scenario.slot);
  db.DropSlotAtEnd(scenario.oracle_slot);
  db.DropSlotAtEnd(PgOutputOracleSlot(scenario.oracle_slot));
  {
    PgConnection conn = db.Connect();
    CreateOtherTable(conn);
    CreateOracleSlot(conn, scenario.oracle_slot);  // before any event is written
  }
  const std::array<std::string, 2> names = {"it_relay_a", "it_relay_b"};
  std::array<RelayProcess*, 2> relays{};
  for (std::size_t i = 0; i < 2; ++i) {
    RelayConfigOptions config = scenario.RelayConfig(db, harness, Delivery::kExactlyOnce);
    config.dsn += " application_name=" + names[i];  // tells the two walsenders apart
    config.more["source"]["reconnect_backoff_max_ms"] = "1000";  // a prompt takeover
    relays[i] = &NewRelay(WriteConfig(names[i] + ".yaml", RenderRelayConfig(config)), names[i]);
  }
  std::cout << "[ info ] seed " << workload.seed << ", slot " << scenario.slot
            << " (transactional id outbox-relay-" << scenario.slot << "), topics "
            << scenario.topic_template << "\n";

  KafkaReader reader(harness.kafka_bootstrap_servers, scenario.topics);
  relays[0]->Start();
  relays[1]->Start();
  SlotHolderWatch watch(db, scenario.slot, names);
  auto both_running = [&](const char* when) {
    for (std::size_t i = 0; i < 2; ++i) {
      if (!relays[i]->Running()) {
        ADD_FAILURE() << names[i] << " exited by itself " << when << ": "
                      << relays[i]->LastExit().value_or(ExitStatus{}).Describe();
        return false;
      }
    }
    return true;
  };

  // The slot exists (one of them created it) and is held before the first event is written.
  const auto slot_deadline = Clock::now() + 60s;
  while (watch.Sample() < 0) {
    ASSERT_TRUE(both_running("while the slot was being created")) << watch.Changes();
    ASSERT_LT(Clock::now(), slot_deadline) << "neither relay holds the slot after 60 s";
    std::this_thread::sleep_for(50ms);
  }
  BackgroundWriter writer(db.Connect(), workload);

  // Until the writer is 45% through: one relay holds the slot, never the other, both run.
  const int midway = workload.TotalEvents() * 45 / 100;
  const auto phase1_deadline = Clock::now() + 120s;
  int holder = -1;
  while (writer.Committed() < midway || holder < 0) {
    holder = watch.Sample();
    ASSERT_TRUE(both_running("while the other held the slot")) << watch.Changes();
    ASSERT_LT(Clock::now(), phase1_deadline)
        << "no midway point with a holder within 120 s: " << writer.Committed()
        << " events committed, holders " << watch.Changes();
    std::this_thread::sleep_for(100ms);
  }
  const std::size_t active = static_cast<std::size_t>(holder);
  const std::size_t standby = 1 - active;
  reader.CatchUp(60s);
  std::unordered_set<std::string> delivered_ids;
  for (const auto& record : reader.Records()) {
    if (auto id = record.Header("id")) delivered_ids.insert(*id);
  }
  const std::size_t delivered_by_active = delivered_ids.size();
  const auto retry_lines = SlotActiveRetryLines(ReadFile(relays[standby]->StderrPath()));
  std::cout << "[ phase 1 ] at +" << Seconds(Clock::now() - test_start) << ": " << names[active]
            << " holds the slot (changes: " << watch.Changes() << "; " << watch.Samples()
            << " samples), " << writer.Committed() << " events committed, "
            << delivered_by_active << " in Kafka; " << names[standby] << " logged "
            << retry_lines.size() << " slot-active retries"
            << (retry_lines.empty() ? "" : ", e.g.\n    " + retry_lines.front()) << "\n";
  EXPECT_EQ(watch.HeldBy().size(), 1u) << "the slot changed hands without a failure: "
                                       << watch.Changes();
  EXPECT_LE(watch.MaxStreaming(), 1) << "both relays streamed at once";
  EXPECT_FALSE(retry_lines.empty())
      << names[standby] << "'s log does not show it retrying on the active slot";
  EXPECT_GT(delivered_by_active, 0u) << names[active] << " delivered nothing before the kill";

  // SIGKILL the active relay; the standby must take the slot over.
  const pid_t killed_pid = relays[active]->Pid();
  const auto kill_sent = Clock::now();
  relays[active]->Kill();
  watch.Reset();
  while ((holder = watch.Sample()) != static_cast<int>(standby)) {
    ASSERT_TRUE(relays[standby]->Running())
        << names[standby] << " exited instead of taking over: "
        << relays[standby]->LastExit().value_or(ExitStatus{}).Describe();
    ASSERT_LT(Clock::now(), kill_sent + 60s)
        << names[standby] << " did not take the slot over within 60 s: " << watch.Changes();
    std::this_thread::sleep_for(50ms);
  }
  const auto takeover = Clock::now() - kill_sent;
  std::cout << "[ measured ] takeover: " << names[standby] << " streams " << Seconds(takeover)
            << " after " << names[active] << " (pid " << killed_pid << ") was SIGKILLed, with "
            << writer.Committed() << " events committed\n";

  // Until the writer is done: the survivor keeps the slot.
  const auto phase2_deadline = Clock::now() + 300s;
  while (!writer.Done()) {
    watch.Sample();
    ASSERT_TRUE(relays[standby]->Running())
        << names[standby] << " exited: "
        << relays[standby]->LastExit().value_or(ExitStatus{}).Describe();
    ASSERT_LT(Clock::now(), phase2_deadline) << "the writer did not finish within 300 s";
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(watch.HeldBy(), std::set<int>{static_cast<int>(standby)})
      << "after the takeover: " << watch.Changes();
  EXPECT_LE(watch.MaxStreaming(), 1) << "both relays streamed at once";
  ASSERT_TRUE(writer.WaitFor(10s));
  ASSERT_TRUE(writer.Error().empty()) << "writer failed: " << writer.Error();
  const WorkloadResult& written = writer.Result();

  PgConnection conn = db.Connect();
  const std::vector<LedgerEvent> ledger = ReadLedger(conn);
  ASSERT_EQ(ledger.size(), written.committed_ids.size());
  const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
  ASSERT_TRUE(oracle.anomalies.empty()) << oracle.anomalies.front();
  ASSERT_EQ(oracle.commit_end_lsn.size(), ledger.size());
  std::unordered_set<std::string> wanted;
  for (const auto& event : ledger) wanted.insert(event.id);
  const std::size_t delivered =
      WaitForDelivery(reader, wanted, 240s, [&] { return relays[standby]->Running(); });
  std::cout << "[ info ] " << delivered << " of " << wanted.size() << " events read from Kafka\n";

  relays[standby]->Signal(SIGTERM);
  const auto exit = relays[standby]->WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();
  reader.CatchUp(120s);
  AnalysisOptions analysis;
  analysis.topic_template = scenario.topic_template;
  analysis.oracle = &oracle;
  analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(), written.rolled_back_ids.end());
  const DeliveryReport report = Analyze(ledger, reader.Records(), analysis);
  std::cout << "[ oracle ] " << report.Summary() << "\n";
  std::cout << "[ oracle ] exactly-once, standby takeover: lost=" << report.lost
            << " duplicated=" << report.duplicated << " reordered=" << report.reordered << "\n";
  EXPECT_EQ(report.lost, 0u);
  EXPECT_EQ(report.duplicated, 0u) << "the takeover duplicated events";
  EXPECT_EQ(report.reordered, 0u);
  EXPECT_EQ(report.rolled_back_delivered, 0u);
  EXPECT_EQ(report.unknown_delivered, 0u);
  EXPECT_EQ(report.MismatchTotal(), 0u);
  ExpectCheckpointCovers(scenario, oracle, harness.kafka_bootstrap_servers);
  std::cout << "[ info ] test took " << Seconds(Clock::now() - test_start) << "\n";
}

}  // namespace
}  // namespace outbox_relay::it
