// Delivery acceptance test: a clean run of the relay against the real PostgreSQL and Kafka.

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <random>
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

// Every event committed while the relay runs reaches Kafka exactly once, in per-aggregate commit
// order, on its aggregate type's topic, keyed by aggregate id (one partition per key), with the
// payload as value and the id/type/aggregate_type/commit_lsn and jsonb headers; events of
// rolled-back transactions and writes to other tables never appear.
TEST_F(RelayIntegrationTest, DeliversEveryCommittedEventOnceInOrder) {
  const auto test_start = std::chrono::steady_clock::now();
  const HarnessEnv& harness = Harness();
  TestDatabase& db = CreateDatabase();
  WorkloadOptions options;
  options.seed = std::random_device{}();
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, options);
  scenario.DropSlotsAtEnd(db);
  std::cout << "[ info ] seed " << options.seed << ", topics " << scenario.topic_template << ", slot "
            << scenario.slot << "\n";

  PgConnection conn = db.Connect();
  CreateOtherTable(conn);
  CreateOracleSlot(conn, scenario.oracle_slot);  // before any event is written

  RelayProcess& relay =
      NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(scenario.RelayConfig(db, harness))), "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s))
      << "the relay did not create/activate slot " << scenario.slot << " within 60 s";

  const WorkloadResult written = RunWorkload(conn, options, nullptr, nullptr);
  const auto last_commit = std::chrono::system_clock::now();
  std::cout << "[ info ] wrote " << written.committed_events << " events in " << written.committed_transactions
            << " transactions, " << written.rolled_back_transactions << " rolled-back transactions ("
            << written.rolled_back_ids.size() << " events), " << written.other_table_transactions
            << " other_table-only transactions, " << written.other_table_rows << " other_table rows, in "
            << Seconds(written.elapsed) << "\n";
  ASSERT_TRUE(relay.Running()) << "the relay exited during the writes: "
                               << relay.LastExit().value_or(ExitStatus{}).Describe();

  const std::vector<LedgerEvent> ledger = ReadLedger(conn);
  ASSERT_EQ(ledger.size(), written.committed_ids.size());
  const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
  ASSERT_TRUE(oracle.anomalies.empty()) << oracle.anomalies.front();
  ASSERT_EQ(oracle.commit_end_lsn.size(), ledger.size());
  ASSERT_EQ(oracle.transactions, static_cast<std::size_t>(written.committed_transactions));

  std::unordered_set<std::string> wanted;
  for (const auto& event : ledger) wanted.insert(event.id);
  KafkaReader reader(harness.kafka_bootstrap_servers, scenario.topics);
  const auto wait_start = std::chrono::steady_clock::now();
  const std::size_t delivered = WaitForDelivery(reader, wanted, 240s, [&] { return relay.Running(); });
  std::cout << "[ info ] " << delivered << " of " << wanted.size() << " events read from Kafka (reading took "
            << Seconds(std::chrono::steady_clock::now() - wait_start) << ")\n";
  std::int64_t newest_ms = -1;
  for (const auto& record : reader.Records()) newest_ms = std::max(newest_ms, record.timestamp_ms);
  const auto last_commit_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(last_commit.time_since_epoch()).count();
  std::cout << "[ info ] newest record's timestamp is " << newest_ms - last_commit_ms
            << " ms after the last commit returned\n";

  // SIGTERM: drain, acknowledge, exit 0; the slot then covers the last outbox commit.
  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));
  const auto slot = db.Slot(scenario.slot);
  ASSERT_TRUE(slot && slot->confirmed_flush_lsn);
  std::cout << "[ info ] slot confirmed_flush_lsn " << FormatLsn(*slot->confirmed_flush_lsn)
            << ", last outbox commit end (oracle) " << FormatLsn(oracle.max_commit_end_lsn) << "\n";
  EXPECT_GE(*slot->confirmed_flush_lsn, oracle.max_commit_end_lsn)
      << "after a clean shutdown the slot must be confirmed up to the last delivered commit";

  reader.CatchUp(120s);
  AnalysisOptions analysis;
  analysis.topic_template = scenario.topic_template;
  analysis.oracle = &oracle;  // the commit_lsn header must equal the oracle's commit LSN
  analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(), written.rolled_back_ids.end());
  const DeliveryReport report = Analyze(ledger, reader.Records(), analysis);
  std::cout << "[ oracle ] " << report.Summary() << "\n";
  std::cout << "[ oracle ] lost=" << report.lost << " duplicated=" << report.duplicated
            << " reordered=" << report.reordered << "\n";
  for (const auto& [topic, partitions] : reader.PartitionCounts()) {
    std::cout << "[ info ] topic " << topic << ": " << partitions << " partitions\n";
    EXPECT_GT(partitions, 0) << "topic " << topic << " was never created";
  }

  ExpectNothingLostOrReordered(report);
  EXPECT_EQ(report.duplicated, 0u) << "a clean run must not duplicate";
  EXPECT_EQ(report.keys_in_several_partitions, 0u) << "events of one key in several partitions";
  std::cout << "[ info ] test took " << Seconds(std::chrono::steady_clock::now() - test_start) << "\n";
}

}  // namespace
}  // namespace outbox_relay::it
