// `outbox-relay inbox` end to end: a workload commits outbox events, the relay (at-least-once,
// killed now and then) publishes them to the harness's Kafka, `outbox-relay replay` publishes
// them all a second time, and inbox processes apply them to a second database through a SQL
// handler that appends every call to app.effects. Whatever is killed or restarted, every event's
// effect must be there exactly once, in commit order per aggregate.

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/harness_env.hpp"
#include "support/kafka_admin.hpp"
#include "support/lsn_text.hpp"
#include "support/oracle.hpp"
#include "support/pg_client.hpp"
#include "support/relay_process.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

constexpr int kPartitions = 3;

class InboxTest : public RelayIntegrationTest {
 protected:
  void TearDown() override {
    RelayIntegrationTest::TearDown();  // the processes first: they hold connections
    consumer_db_.reset();
  }

  // The source database with its relay's topics (kPartitions each) and the consuming database
  // with the inbox schema (by `init --inbox`) and the handler app.apply_event.
  void SetUpDatabases(const WorkloadOptions& workload, bool pinned) {
    TestDatabase& db = CreateDatabase();
    PgConnection source = db.Connect();
    CreateOtherTable(source);
    scenario_ = KafkaScenario::Make(suffix_, workload);
    KafkaAdmin admin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}});
    for (const std::string& topic : scenario_.topics) admin.CreateTopic(topic, kPartitions);

    consumer_db_ = std::make_unique<TestDatabase>(Harness(), ShortTestName() + "_in");
    PgConnection consumer = consumer_db_->Connect();
    consumer.Exec(
        "CREATE SCHEMA app;"
        "CREATE TABLE app.effects (n bigserial PRIMARY KEY, event_id text NOT NULL, aggregate text NOT NULL,"
        " seq int NOT NULL);"
        "CREATE FUNCTION app.apply_event(id text, type text, key text, headers jsonb, payload jsonb)"
        " RETURNS void LANGUAGE sql AS $$ INSERT INTO app.effects (event_id, aggregate, seq)"
        " VALUES (id, key, (payload->>'seq')::int) $$");
    inbox_config_ = WriteConfig("inbox.yaml", InboxYaml(pinned));
    RelayProcess& init = NewRelayCommand({"init", "--inbox", "--config", inbox_config_}, "init-inbox");
    init.Start();
    const auto exit = init.WaitFor(60s);
    ASSERT_TRUE(exit && exit->exited && exit->code == 0) << TailFile(init.StderrPath(), 20);
    ASSERT_TRUE(Contains(ReadFile(init.StdoutPath()), "created function inbox.apply_batch"))
        << ReadFile(init.StdoutPath());
  }

  // One handler rule per topic; a small batch and quick group timeouts, so kills and
  // rebalances happen within the test's time. With `pinned`, every partition is assigned
  // statically (inbox.partitions): a restarted inbox applies at once, where a group would wait
  // for the killed member's session to time out first.
  std::string InboxYaml(bool pinned) const {
    std::string yaml = "source:\n  dsn: \"" + consumer_db_->RelayDsn() + "\"\n" +
                       "kafka:\n  bootstrap.servers: \"" + Harness().kafka_bootstrap_servers + "\"\n" +
                       "  session.timeout.ms: \"6000\"\n  heartbeat.interval.ms: \"1000\"\n" +
                       "inbox:\n  name: it\n  group_id: it-inbox-" + suffix_ +
                       "\n  batch_size: 200\n  batch_wait_ms: 50\n  retry_backoff_max_ms: 1000\n  handlers:\n";
    for (const std::string& topic : scenario_.topics) {
      yaml += "    - topic: " + topic + "\n      function: app.apply_event\n";
    }
    if (pinned) {
      yaml += "  partitions:\n";
      for (const std::string& topic : scenario_.topics) {
        for (int partition = 0; partition < kPartitions; ++partition) {
          yaml += "    - \"" + topic + ":" + std::to_string(partition) + "\"\n";
        }
      }
    }
    return yaml + "http:\n  listen: \"127.0.0.1:0\"\nlog:\n  level: info\n";
  }

  RelayProcess& StartInbox(const std::string& label) {
    RelayProcess& inbox = NewRelayCommand({"inbox", "--config", inbox_config_}, label);
    inbox.Start();
    return inbox;
  }

  // The relay, with its slot made: what the writer commits from now on is published.
  RelayProcess& StartRelay() {
    RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(RelayConfig())), "relay");
    relay.Start();
    EXPECT_TRUE(db_->WaitForSlot(scenario_.slot, true, 60s)) << "the relay did not create its slot within 60 s";
    return relay;
  }

  RelayConfigOptions RelayConfig() const { return scenario_.RelayConfig(*db_, Harness()); }

  // Records in the topics now (end offsets), and the records the inbox has stored positions past.
  std::int64_t RecordsInKafka() const {
    KafkaAdmin admin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}});
    std::int64_t total = 0;
    for (const std::string& topic : scenario_.topics) {
      for (const auto& [partition, end] : admin.EndOffsets(topic, kPartitions)) total += end;
    }
    return total;
  }
  std::int64_t RecordsApplied() const {
    PgConnection consumer = consumer_db_->Connect();
    return std::stoll(
        consumer.Exec("SELECT coalesce(sum(next_offset), 0) FROM inbox.positions WHERE inbox_name = 'it'")
            .Text(0, 0));
  }

  // Waits until the inbox has gone past every record in Kafka; then checks app.effects against
  // the ledger: each committed event once, in seq order per aggregate.
  void ExpectEveryEventAppliedOnce(std::chrono::milliseconds timeout) {
    const std::int64_t in_kafka = RecordsInKafka();
    ASSERT_TRUE(WaitUntil([&] { return RecordsApplied() >= in_kafka; }, timeout))
        << "the inbox applied " << RecordsApplied() << " of " << in_kafka << " records within "
        << Seconds(timeout);
    PgConnection source = db_->Connect();
    const std::vector<LedgerEvent> ledger = ReadLedger(source);
    PgConnection consumer = consumer_db_->Connect();
    const PgResult effects = consumer.Exec("SELECT event_id, count(*) FROM app.effects GROUP BY event_id");
    std::set<std::string> applied;
    std::size_t twice = 0;
    for (std::size_t row = 0; row < effects.Size(); ++row) {
      applied.insert(effects.Text(row, 0));
      if (effects.Text(row, 1) != "1") ++twice;
    }
    std::size_t missing = 0;
    for (const LedgerEvent& event : ledger) missing += applied.count(event.id) == 0 ? 1 : 0;
    const std::string reordered =
        consumer
            .Exec(
                "SELECT count(*) FROM (SELECT seq, lag(seq) OVER (PARTITION BY aggregate ORDER BY n) AS before "
                "FROM app.effects) e WHERE seq <= before")
            .Text(0, 0);
    std::cout << "[ info ] " << ledger.size() << " committed events, " << in_kafka << " records in Kafka ("
              << in_kafka - static_cast<std::int64_t>(ledger.size()) << " duplicates upstream); applied "
              << applied.size() << " events: missing " << missing << ", applied twice " << twice
              << ", out of order " << reordered << "\n";
    EXPECT_EQ(missing, 0u) << "events committed but never applied";
    EXPECT_EQ(twice, 0u) << "events whose handler ran more than once";
    EXPECT_EQ(applied.size(), ledger.size()) << "effects of events that were never committed";
    EXPECT_EQ(reordered, "0") << "events applied out of order within an aggregate, such as: " << [&] {
      const PgResult examples = consumer.Exec(
          "SELECT aggregate, n, seq, before, event_id FROM (SELECT *, lag(seq) OVER (PARTITION BY aggregate "
          "ORDER BY n) AS before FROM app.effects) e WHERE seq <= before ORDER BY n LIMIT 5");
      std::string text;
      for (std::size_t row = 0; row < examples.Size(); ++row) {
        text += "\n  " + examples.Text(row, 0) + ": effect " + examples.Text(row, 1) + " seq " +
                examples.Text(row, 2) + " after seq " + examples.Text(row, 3) + " (event " +
                examples.Text(row, 4) + ")";
      }
      return text;
    }();
  }

  // `outbox-relay replay` of every row: each event id a second time, at later offsets.
  void ReplayEverything() {
    RelayProcess& replay = NewRelayCommand(
        {"replay", "--config", temp_->File("relay.yaml"), "--from", "2000-01-01T00:00:00Z"}, "replay");
    replay.Start();
    const auto exit = replay.WaitFor(300s);
    ASSERT_TRUE(exit && exit->exited && exit->code == 0) << TailFile(replay.StderrPath(), 20);
    std::cout << "[ info ] " << TailFile(replay.StdoutPath(), 1);
  }

  KafkaScenario scenario_;
  std::unique_ptr<TestDatabase> consumer_db_;
  std::string inbox_config_;
};

// 20,000 events; the inbox (every partition pinned) SIGKILLed 24 times at random moments, the
// relay killed every 4th time (redelivering what it had not confirmed), PostgreSQL restarted
// once under all of them, then every event published again by replay.
TEST_F(InboxTest, CrashLoopAppliesEveryEventExactlyOnceInOrder) {
  WorkloadOptions workload = WorkloadOptions::Sized(4000, 600, 10, 600);
  workload.seed = std::random_device{}();
  SetUpDatabases(workload, true);
  if (HasFatalFailure()) return;
  workload.reconnect_conninfo = db_->RelayDsn();
  std::cout << "[ info ] seed " << workload.seed << ", " << workload.TotalEvents() << " events\n";
  RelayProcess* relay = &StartRelay();
  if (HasFailure()) return;
  RelayProcess* inbox = &StartInbox("inbox");
  BackgroundWriter writer(db_->Connect(), workload);
  std::mt19937 random(workload.seed);
  std::uniform_int_distribution<int> pause_ms(300, 1500);
  constexpr int kKills = 24;
  for (int kill = 1; kill <= kKills; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    ASSERT_TRUE(inbox->Running()) << "the inbox ended by itself before kill " << kill << ": "
                                  << TailFile(inbox->StderrPath(), 30);
    inbox->Kill();
    if (kill % 4 == 0) {
      ASSERT_TRUE(relay->Running()) << TailFile(relay->StderrPath(), 30);
      relay->Kill();
      relay = &NewRelay(temp_->File("relay.yaml"), "relay");
      relay->Start();
    }
    if (kill == kKills / 2) {
      const auto took = RunHarnessCommand("restart-pg", temp_->Path(), 180s);
      std::cout << "[ info ] PostgreSQL restarted in " << Seconds(took) << " (kill " << kill << ")\n";
    }
    inbox = &StartInbox("inbox");
  }
  ASSERT_TRUE(writer.WaitFor(300s)) << "the writer did not finish";
  ASSERT_EQ(writer.Error(), "");
  std::cout << "[ info ] " << kKills << " inbox kills, " << kKills / 4 << " relay kills, writer committed "
            << writer.Result().committed_events << " events with " << writer.Result().reconnects
            << " reconnects\n";
  // The relay's originals all in Kafka before the replay's copies, which follow them.
  PgConnection source = db_->Connect();
  const std::uint64_t written = ParseLsnText(source.Exec("SELECT pg_current_wal_lsn()::text").Text(0, 0)).value();
  ASSERT_TRUE(WaitUntil(
      [&] { return db_->Slot(scenario_.slot).value_or(SlotState{}).confirmed_flush_lsn.value_or(0) >= written; },
      120s))
      << "the relay did not confirm the workload within 120 s: " << TailFile(relay->StderrPath(), 20);
  ReplayEverything();
  if (HasFatalFailure()) return;
  ExpectEveryEventAppliedOnce(300s);
  inbox->Signal(SIGTERM);
  const auto exit = inbox->WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the inbox did not stop within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->Describe() << TailFile(inbox->StderrPath(), 20);
}

// Two inbox processes in one group share the partitions; one is SIGKILLed mid-workload and the
// other takes its partitions over from the positions in PostgreSQL.
TEST_F(InboxTest, ARebalanceAfterAKilledMemberNeitherSkipsNorRepeats) {
  WorkloadOptions workload = WorkloadOptions::Sized(2000, 200, 2, 400);
  workload.seed = std::random_device{}();
  SetUpDatabases(workload, false);
  if (HasFatalFailure()) return;
  StartRelay();
  if (HasFailure()) return;
  RelayProcess& first = StartInbox("inbox-a");
  RelayProcess& second = StartInbox("inbox-b");
  // Both members hold partitions: the group has rebalanced onto the two.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Contains(ReadFile(first.StderrPath()), "assigned") &&
               Contains(ReadFile(second.StderrPath()), "assigned");
      },
      60s))
      << TailFile(first.StderrPath(), 20) << TailFile(second.StderrPath(), 20);
  BackgroundWriter writer(db_->Connect(), workload);
  ASSERT_TRUE(WaitUntil([&] { return writer.Committed() >= workload.TotalEvents() / 2; }, 120s));
  first.Kill();
  const std::string before = ReadFile(second.StderrPath());
  ASSERT_TRUE(writer.WaitFor(300s));
  ASSERT_EQ(writer.Error(), "");
  ExpectEveryEventAppliedOnce(180s);
  // The survivor's last assignment holds every partition.
  const std::string after = ReadFile(second.StderrPath()).substr(before.size());
  EXPECT_TRUE(Contains(after, "assigned " + std::to_string(kPartitions * scenario_.topics.size()) + " partitions"))
      << after;
  second.Signal(SIGTERM);
  const auto exit = second.WaitFor(60s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->Describe();
}

}  // namespace
}  // namespace outbox_relay::it
