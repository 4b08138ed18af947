// PostgreSQL fails over under the relay: a primary and its synchronous physical standby (extra
// servers of the harness's major: tests/harness/harness.sh start-extra-standby), the relay and
// the writer on one multi-host DSN with target_session_attrs=read-write. Mid-workload the
// primary stops hard (pg_ctl stop -m immediate) and the standby is promoted. From PostgreSQL 17
// the relay's slot is a failover slot the standby synchronised, and the relay goes on from it on
// the new primary; a slot that was not synchronised (before 17, or source.slot_failover: false)
// is gone there, and the relay stops with the slot-loss error instead of creating a new one.
// The same pair, from PostgreSQL 16, serves a relay that decodes on the standby itself.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "support/extra_postgres.hpp"
#include "support/harness_env.hpp"
#include "support/http_client.hpp"
#include "support/kafka_reader.hpp"
#include "support/oracle.hpp"
#include "support/pg_client.hpp"
#include "support/relay_process.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// Failover slots (CREATE_REPLICATION_SLOT ... FAILOVER, sync_replication_slots) came with 17.
constexpr int kFailoverSlotsSince = 17;
// Logical decoding on a hot standby came with 16.
constexpr int kStandbyDecodingSince = 16;

struct FailoverScenario {
  KafkaScenario kafka;
  WorkloadOptions workload;
};

// 4,000 events at 250 a second (~16 s) in transactions of 1, 10 and 1,000 rows; the writer
// reconnects through the multi-host DSN and settles a COMMIT whose outcome the crash hid.
FailoverScenario MakeScenario(const std::string& suffix, const std::string& dsn) {
  FailoverScenario scenario;
  scenario.workload = WorkloadOptions::Sized(1000, 200, 1, 250);
  scenario.workload.seed = std::random_device{}();
  scenario.workload.reconnect_conninfo = dsn + " connect_timeout=5";
  scenario.workload.reconnect_timeout = 120s;
  scenario.kafka = KafkaScenario::Make(suffix, scenario.workload);
  std::cout << "[ info ] seed " << scenario.workload.seed << ", topics " << scenario.kafka.topic_template
            << ", slot " << scenario.kafka.slot << "\n";
  return scenario;
}

class FailoverTest : public RelayIntegrationTest {
 protected:
  void TearDown() override {
    RelayIntegrationTest::TearDown();  // the relays first: they hold the slot
    db_on_cluster_.reset();
    standby_.reset();
    primary_.reset();
  }

  // The primary, its standby, a test database on the primary (the standby has it too) with
  // other_table, and the scenario's names and workload.
  FailoverScenario StartCluster() {
    primary_ = std::make_unique<ExtraPostgres>(
        "fo-p-" + suffix_,
        std::vector<std::string>{"wal_level=logical", "max_wal_senders=10", "max_replication_slots=10"},
        temp_->Path());
    standby_ =
        std::make_unique<ExtraPostgres>(ExtraPostgres::StandbyOf(*primary_, "fo-s-" + suffix_, temp_->Path()));
    cluster_ = primary_->AsHarness();
    db_on_cluster_ = std::make_unique<TestDatabase>(cluster_, ShortTestName());
    PgConnection conn = db_on_cluster_->Connect();
    CreateOtherTable(conn);
    return MakeScenario(suffix_, MultiHostDsn());
  }

  // A relay of `config` on the multi-host DSN, started.
  RelayProcess& StartRelay(RelayConfigOptions config) {
    config.dsn = MultiHostDsn();
    RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
    relay.Start();
    return relay;
  }

  void WriteThroughFailover(const FailoverScenario& scenario, KafkaReader& reader,
                            const std::function<void()>& at_failover_point, WorkloadResult* written);

  // Both servers, the writable one wins: what a client of an HA pair without a proxy uses.
  std::string MultiHostDsn() const {
    return "host=127.0.0.1,127.0.0.1 port=" + primary_->Port() + "," + standby_->Port() +
           " dbname=" + db_on_cluster_->Name() + " user=postgres target_session_attrs=read-write";
  }
  std::string DsnOf(const ExtraPostgres& server) const { return server.ConnInfo(db_on_cluster_->Name()); }

  // Whether the standby holds `slot` synchronised and ready to be used once promoted.
  bool SlotSyncedOnStandby(const std::string& slot) const {
    if (HarnessPgMajor() < kFailoverSlotsSince) return false;  // no slot synchronisation at all
    PgConnection conn(DsnOf(*standby_));
    auto rows = conn.ExecParams(
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND synced AND NOT temporary", {slot});
    return !rows.Empty();
  }

  // Stops the primary hard and promotes the standby, which becomes primary_ (and the crashed
  // one standby_); the test database's connections then go to the new primary.
  void FailOver() {
    const auto start = std::chrono::steady_clock::now();
    primary_->Crash();
    standby_->Promote();
    std::swap(primary_, standby_);
    cluster_.pg_port = primary_->Port();
    std::cout << "[ info ] primary stopped (immediate), standby promoted in "
              << Seconds(std::chrono::steady_clock::now() - start) << "\n";
  }

  // The crashed old primary comes back as a standby of the new one, under its name and on its
  // port, so the multi-host DSN reaches it when it is promoted in turn.
  void RebuildOldPrimaryAsStandby() {
    const std::string name = standby_->Name();
    const std::string port = standby_->Port();
    standby_.reset();
    standby_ = std::make_unique<ExtraPostgres>(ExtraPostgres::StandbyOf(*primary_, name, temp_->Path(), port));
  }

  void ExpectNoLossAcrossFailover(Delivery delivery);

  std::unique_ptr<ExtraPostgres> primary_;
  std::unique_ptr<ExtraPostgres> standby_;
  HarnessEnv cluster_;  // the harness's env with the current primary as its PostgreSQL
  std::unique_ptr<TestDatabase> db_on_cluster_;
};

// The writer is 40 % through and the relay has delivered some of it: the moment to fail over.
void WaitForFailoverPoint(const BackgroundWriter& writer, const WorkloadOptions& workload, KafkaReader& reader) {
  ASSERT_TRUE(WaitUntil([&] { return writer.Committed() >= workload.TotalEvents() * 2 / 5; }, 120s))
      << "the writer committed " << writer.Committed() << " events in 120 s";
  ASSERT_TRUE(WaitUntil(
      [&] {
        reader.CatchUp(30s);
        return !reader.Records().empty();
      },
      60s))
      << "the relay delivered nothing within 60 s";
  // Mid-workload: the writer must live through the failover too.
  ASSERT_FALSE(writer.Done()) << "the writer finished before the failover point";
}

// The workload, with the failover at its failover point (after `at_failover_point` ran); the
// writer goes on on the new primary.
void FailoverTest::WriteThroughFailover(const FailoverScenario& scenario, KafkaReader& reader,
                                        const std::function<void()>& at_failover_point, WorkloadResult* written) {
  BackgroundWriter writer(db_on_cluster_->Connect(), scenario.workload);
  WaitForFailoverPoint(writer, scenario.workload, reader);
  if (HasFatalFailure()) return;
  at_failover_point();
  FailOver();
  ASSERT_TRUE(writer.WaitFor(180s)) << "the writer did not finish within 180 s of the failover";
  ASSERT_EQ(writer.Error(), "") << "the writer failed";
  *written = writer.Result();
}

// The relay goes on from the synchronised slot on the new primary: nothing lost or reordered,
// and in exactly-once mode nothing duplicated. In the long mode ten promotions in a row, each
// old primary rebuilt as the standby of the new one; the counts after each.
void FailoverTest::ExpectNoLossAcrossFailover(Delivery delivery) {
  const FailoverScenario scenario = StartCluster();
  TestDatabase& db = *db_on_cluster_;
  RelayProcess& relay = StartRelay(scenario.kafka.RelayConfig(db, Harness(), delivery));
  ASSERT_TRUE(db.WaitForSlot(scenario.kafka.slot, true, 60s)) << "the relay did not create its slot within 60 s";

  KafkaReader reader(Harness().kafka_bootstrap_servers, scenario.kafka.topics);
  AnalysisOptions analysis;
  analysis.topic_template = scenario.kafka.topic_template;
  std::size_t committed = 0;
  const int promotions = LongRun() ? 10 : 1;
  for (int promotion = 1; promotion <= promotions; ++promotion) {
    if (promotion > 1) RebuildOldPrimaryAsStandby();
    // The standby makes the slot persistent once the relay confirmed past the standby's position
    // (keepalives are enough); until then a promotion would lose it.
    ASSERT_TRUE(WaitUntil([&] { return SlotSyncedOnStandby(scenario.kafka.slot); }, 90s))
        << "the standby did not synchronise the relay's slot within 90 s (promotion " << promotion << ")";

    // Each round's own aggregates: a round's sequence numbers start again at 1.
    FailoverScenario round = scenario;
    round.workload.first_aggregate = (promotion - 1) * scenario.workload.aggregates;
    WorkloadResult written;
    WriteThroughFailover(round, reader, [] {}, &written);
    if (HasFatalFailure()) return;
    std::cout << "[ info ] wrote " << written.committed_events << " events, " << written.reconnects
              << " writer reconnects, " << written.commits_found_after_error
              << " commits settled after the crash\n";
    committed += written.committed_ids.size();
    analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(), written.rolled_back_ids.end());

    PgConnection new_primary = db.Connect();
    const std::vector<LedgerEvent> ledger = ReadLedger(new_primary);
    // The standby is synchronous: every commit the writer saw acknowledged is on the new primary.
    EXPECT_EQ(ledger.size(), committed);
    std::unordered_set<std::string> wanted;
    for (const auto& event : ledger) wanted.insert(event.id);
    const std::size_t delivered = WaitForDelivery(reader, wanted, 240s, [&] { return relay.Running(); });
    const DeliveryReport report = Analyze(ledger, reader.Records(), analysis);
    std::cout << "[ info ] promotion " << promotion << "/" << promotions << ": " << delivered << " of "
              << wanted.size() << " events read from Kafka; mode=" << DeliveryName(delivery) << " "
              << report.Summary() << "\n";
    ExpectNothingLostOrReordered(report);
    if (delivery == Delivery::kExactlyOnce) {
      EXPECT_EQ(report.duplicated, 0u) << "exactly-once delivered duplicates across the failover";
    }
    if (HasFailure()) return;
  }

  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();
}

TEST_F(FailoverTest, ExactlyOnceGoesOnFromTheSynchronisedSlotOnThePromotedStandby) {
  if (HarnessPgMajor() < kFailoverSlotsSince) GTEST_SKIP() << "failover slots need PostgreSQL 17 or later";
  ExpectNoLossAcrossFailover(Delivery::kExactlyOnce);
}

TEST_F(FailoverTest, AtLeastOnceGoesOnFromTheSynchronisedSlotOnThePromotedStandby) {
  if (HarnessPgMajor() < kFailoverSlotsSince) GTEST_SKIP() << "failover slots need PostgreSQL 17 or later";
  ExpectNoLossAcrossFailover(Delivery::kAtLeastOnce);
}

// The slot-loss protection: the slot is gone on the new primary, but outbox.relay_slots (a
// table, so on the standby too) remembers it; the relay exits 1 naming the way to recover and
// the replay it needs, and creates no slot.
TEST_F(FailoverTest, ASlotTheStandbyDidNotSynchroniseStopsTheRelayWithTheSlotLossError) {
  const FailoverScenario scenario = StartCluster();
  TestDatabase& db = *db_on_cluster_;
  RelayConfigOptions config = scenario.kafka.RelayConfig(db, Harness());
  if (HarnessPgMajor() >= kFailoverSlotsSince) config.more["source"] = {{"slot_failover", "false"}};
  RelayProcess& relay = StartRelay(config);
  ASSERT_TRUE(db.WaitForSlot(scenario.kafka.slot, true, 60s)) << "the relay did not create its slot within 60 s";

  KafkaReader reader(Harness().kafka_bootstrap_servers, scenario.kafka.topics);
  WorkloadResult written;
  WriteThroughFailover(
      scenario, reader, [&] { EXPECT_FALSE(SlotSyncedOnStandby(scenario.kafka.slot)); }, &written);
  if (HasFatalFailure()) return;
  const auto exit = relay.WaitFor(120s);
  ASSERT_TRUE(exit.has_value()) << "the relay still runs 120 s after the failover";
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
  const std::string stderr_tail = relay.StderrTail(40);
  EXPECT_TRUE(Contains(stderr_tail, "replication slot " + scenario.kafka.slot +
                                        " is gone, but outbox.relay_slots shows it was created at"))
      << stderr_tail;
  EXPECT_TRUE(Contains(stderr_tail, "outbox-relay init --recreate-slot")) << stderr_tail;
  EXPECT_FALSE(db.Slot(scenario.kafka.slot).has_value()) << "the relay created a new slot on the new primary";
}

// A relay whose source.dsn is the hot standby: its slot lives there, its heartbeat goes to the
// primary (heartbeat.dsn), its slot record (outbox.relay_slots) is written on the primary and
// replicated back, and its lag is measured against the standby's replay position. Every event
// the primary commits reaches Kafka exactly once, in order. Before 16, `check` fails on it.
TEST_F(FailoverTest, ARelayOnTheStandbyDecodesThereWithTheHeartbeatOnThePrimary) {
  const FailoverScenario scenario = StartCluster();
  TestDatabase& db = *db_on_cluster_;
  // The standby is synchronous in flushing, not in replaying: the test database and its outbox
  // appear there a moment later.
  const std::string primary_lsn = db.Connect().Exec("SELECT pg_current_wal_lsn()").Text(0, 0);
  PgConnection standby_postgres(standby_->ConnInfo("postgres"));
  ASSERT_TRUE(WaitUntil(
      [&] {
        return standby_postgres.ExecParams("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", {primary_lsn})
                   .Text(0, 0) == "t";
      },
      30s))
      << "the standby did not replay up to " << primary_lsn << " within 30 s";
  RelayConfigOptions config = scenario.kafka.RelayConfig(db, Harness(), Delivery::kExactlyOnce);
  config.dsn = DsnOf(*standby_);
  config.more["heartbeat"] = {{"dsn", DsnOf(*primary_)}, {"interval_ms", "500"}};
  config.more["wal_guard"] = {{"poll_interval_ms", "500"}};
  const std::string config_path = WriteConfig("relay.yaml", RenderRelayConfig(config));

  RelayProcess& check = NewRelayCommand({"check", "--config", config_path}, "check");
  check.Start();
  const auto checked_exit = check.WaitFor(60s);
  ASSERT_TRUE(checked_exit.has_value()) << "check still runs after 60 s";
  const std::string checked = ReadFile(check.StdoutPath());
  if (HarnessPgMajor() < kStandbyDecodingSince) {
    EXPECT_EQ(checked_exit->code, 1) << checked_exit->Describe();
    EXPECT_TRUE(Contains(checked, "logical decoding on a standby needs PostgreSQL 16 or later")) << checked;
    return;
  }
  EXPECT_EQ(checked_exit->code, 0) << checked;
  EXPECT_TRUE(Contains(checked, "standby: decoding on a hot standby")) << checked;

  RelayProcess& relay = NewRelay(config_path, "relay");
  const auto started = std::chrono::steady_clock::now();
  relay.Start();
  // A standby builds the slot's snapshot from the primary's running-transactions records, which
  // the relay asks the primary for (pg_log_standby_snapshot) while its slot is missing. The
  // position is set once the slot is built; the workload must come after it.
  PgConnection on_standby(DsnOf(*standby_));
  const auto slot_on_standby = [&] {
    return !on_standby
                .ExecParams(
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND confirmed_flush_lsn IS NOT NULL",
                    {scenario.kafka.slot})
                .Empty();
  };
  ASSERT_TRUE(WaitUntil(slot_on_standby, 90s)) << "the relay did not create its slot on the standby within 90 s";
  std::cout << "[ info ] slot created on the standby in " << Seconds(std::chrono::steady_clock::now() - started)
            << "\n";
  EXPECT_FALSE(db.Slot(scenario.kafka.slot).has_value()) << "the primary has the relay's slot";

  KafkaReader reader(Harness().kafka_bootstrap_servers, scenario.kafka.topics);
  PgConnection writer = db.Connect();
  const WorkloadResult written = RunWorkload(writer, scenario.workload, nullptr, nullptr);
  std::unordered_set<std::string> wanted(written.committed_ids.begin(), written.committed_ids.end());
  const std::size_t delivered = WaitForDelivery(reader, wanted, 240s, [&] { return relay.Running(); });
  std::cout << "[ info ] " << delivered << " of " << wanted.size() << " events read from Kafka\n";

  const int port = WaitForHttpPort(relay, 10s);
  const std::string metrics = HttpGet(kLoopback, port, "/metrics").body;
  EXPECT_GT(MetricSum(metrics, "outbox_relay_heartbeats_total").value_or(0), 0) << metrics;
  EXPECT_TRUE(MetricSum(metrics, "outbox_relay_slot_retained_wal_bytes").has_value()) << metrics;
  PgConnection on_primary = db.Connect();
  EXPECT_FALSE(
      on_primary.ExecParams("SELECT 1 FROM outbox.relay_slots WHERE slot_name = $1", {scenario.kafka.slot})
          .Empty())
      << "the relay did not record its slot on the primary";

  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();

  AnalysisOptions analysis;
  analysis.topic_template = scenario.kafka.topic_template;
  const DeliveryReport report = Analyze(ReadLedger(on_primary), reader.Records(), analysis);
  std::cout << "[ info ] standby decoding " << report.Summary() << "\n";
  ExpectNothingLostOrReordered(report);
  EXPECT_EQ(report.duplicated, 0u);
}

}  // namespace
}  // namespace outbox_relay::it
