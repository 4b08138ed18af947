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
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/harness_env.hpp"
#include "support/kafka_admin.hpp"
#include "support/kafka_reader.hpp"
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

  // The source database with its relay's topics (kPartitions each), and the consuming database.
  void SetUpDatabases(const WorkloadOptions& workload, bool pinned) {
    TestDatabase& db = CreateDatabase();
    PgConnection source = db.Connect();
    CreateOtherTable(source);
    scenario_ = KafkaScenario::Make(suffix_, workload);
    KafkaAdmin admin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}});
    for (const std::string& topic : scenario_.topics) admin.CreateTopic(topic, kPartitions);
    SetUpConsumer(scenario_.topics, pinned);
  }

  // The consuming database with the handler app.apply_event, which records each call in
  // app.effects and raises for a payload with a "boom" field, and the inbox schema, made by
  // `init --inbox` with the inbox's config for `topics` (InboxYaml).
  void SetUpConsumer(const std::vector<std::string>& topics, bool pinned) {
    consumer_db_ = std::make_unique<TestDatabase>(Harness(), ShortTestName() + "_in");
    PgConnection consumer = consumer_db_->Connect();
    consumer.Exec(
        "CREATE SCHEMA app;"
        "CREATE TABLE app.effects (n bigserial PRIMARY KEY, event_id text NOT NULL, aggregate text NOT NULL,"
        " seq int NOT NULL);"
        "CREATE FUNCTION app.apply_event(id text, type text, key text, headers jsonb, payload jsonb)"
        " RETURNS void LANGUAGE plpgsql AS $$ BEGIN"
        " IF payload ? 'boom' THEN RAISE EXCEPTION 'event % cannot be applied', id; END IF;"
        " INSERT INTO app.effects (event_id, aggregate, seq) VALUES (id, key, (payload->>'seq')::int); END $$");
    inbox_config_ = WriteConfig("inbox.yaml", InboxYaml(topics, pinned, ""));
    const std::string init = RunInboxCommand("init", 0);
    ASSERT_TRUE(Contains(init, "created function inbox.apply_batch")) << init;
  }

  // `outbox-relay <command> --inbox --config <the inbox's config>` to its end: its stdout, after
  // expecting exit code `expected`.
  std::string RunInboxCommand(const std::string& command, int expected) {
    RelayProcess& process = NewRelayCommand({command, "--inbox", "--config", inbox_config_}, command + "-inbox");
    process.Start();
    const auto exit = process.WaitFor(60s);
    EXPECT_TRUE(exit && exit->exited && exit->code == expected)
        << command << " --inbox: " << (exit ? exit->Describe() : "still running after 60 s") << "\n"
        << ReadFile(process.StdoutPath()) << TailFile(process.StderrPath(), 20);
    return ReadFile(process.StdoutPath());
  }

  // One handler rule per topic, and `inbox_keys` (indented lines of the inbox section); a small
  // batch and quick group timeouts, so kills and rebalances happen within the test's time. With
  // `pinned`, every partition is assigned statically (inbox.partitions): a restarted inbox
  // applies at once, where a group would wait for the killed member's session to time out first.
  std::string InboxYaml(const std::vector<std::string>& topics, bool pinned, const std::string& inbox_keys) const {
    std::string yaml = "source:\n  dsn: \"" + consumer_db_->RelayDsn() + "\"\n" +
                       "kafka:\n  bootstrap.servers: \"" + Harness().kafka_bootstrap_servers + "\"\n" +
                       "  session.timeout.ms: \"6000\"\n  heartbeat.interval.ms: \"1000\"\n" +
                       "inbox:\n  name: it\n  group_id: it-inbox-" + suffix_ +
                       "\n  batch_size: 200\n  batch_wait_ms: 50\n  retry_backoff_max_ms: 1000\n" + inbox_keys +
                       "  handlers:\n";
    for (const std::string& topic : topics) {
      yaml += "    - topic: " + topic + "\n      function: app.apply_event\n";
    }
    if (pinned) {
      yaml += "  partitions:\n";
      for (const std::string& topic : topics) {
        for (int partition = 0; partition < kPartitions; ++partition) {
          yaml += "    - \"" + topic + ":" + std::to_string(partition) + "\"\n";
        }
      }
    }
    return yaml + "http:\n  listen: \"127.0.0.1:0\"\nlog:\n  level: info\n";
  }

  // The position stored for `topic`'s partition 0, and the ids in app.effects in applying order.
  std::string StoredPosition(const std::string& topic) const {
    PgConnection consumer = consumer_db_->Connect();
    const PgResult rows =
        consumer.Exec("SELECT next_offset FROM inbox.positions WHERE inbox_name = 'it' AND topic = '" + topic +
                      "' AND kafka_partition = 0");
    return rows.Size() == 0 ? "none" : rows.Text(0, 0);
  }
  std::string AppliedIds() const {
    PgConnection consumer = consumer_db_->Connect();
    return consumer.Exec("SELECT coalesce(string_agg(event_id, ',' ORDER BY n), '') FROM app.effects").Text(0, 0);
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

// Records that cannot be applied, one of each kind, between good ones. With inbox.on_poison: fail
// the inbox stops at the first with nothing after it applied; restarted with dead-letter, it
// writes the three to the dead-letter topic with their reasons and applies the rest, once.
// `status --inbox` and `check --inbox` then describe that inbox.
TEST_F(InboxTest, PoisonRecordsStopTheInboxOrGoToTheDeadLetterTopic) {
  const std::string topic = "inbox-poison-" + suffix_;
  const std::string dead_letters = "inbox-dead-letters-" + suffix_;
  KafkaAdmin admin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}});
  admin.CreateTopic(topic, kPartitions);
  admin.CreateTopic(dead_letters, 1);
  const auto record = [](const std::string& id, const std::string& value) {
    KafkaAdmin::Record made{0, "flight-1", value, {{"type", "SeatHeld"}}};
    if (!id.empty()) made.headers.emplace_back("id", id);
    return made;
  };
  const std::vector<KafkaAdmin::Record> records{record("p-0", R"({"seq":1})"),
                                                record("p-1", R"({"seq":2,"boom":true})"),  // the handler raises
                                                record("", R"({"seq":3})"),  // no id header
                                                record("p-3", "not json"), record("p-4", R"({"seq":4})")};
  admin.Produce(topic, records);
  SetUpConsumer({topic}, true);
  if (HasFatalFailure()) return;

  RelayProcess& strict = StartInbox("inbox-fail");
  const auto stopped = strict.WaitFor(60s);
  ASSERT_TRUE(stopped.has_value()) << "the inbox went on past a poison record: "
                                   << TailFile(strict.StderrPath(), 20);
  EXPECT_TRUE(stopped->exited && stopped->code == 1) << stopped->Describe();
  EXPECT_TRUE(Contains(ReadFile(strict.StderrPath()),
                       "event p-1 at " + topic + "/0@1 (handler app.apply_event): handler_error"))
      << TailFile(strict.StderrPath(), 20);
  EXPECT_EQ(StoredPosition(topic), "1") << "the position must stay at the poison record";
  EXPECT_EQ(AppliedIds(), "p-0");

  inbox_config_ = WriteConfig(
      "inbox.yaml",
      InboxYaml({topic}, true, "  on_poison: dead-letter\n  dead_letter_topic: " + dead_letters + "\n"));
  RelayProcess& tolerant = StartInbox("inbox-dead-letter");
  ASSERT_TRUE(WaitUntil([&] { return StoredPosition(topic) == "5"; }, 60s))
      << "stored position " << StoredPosition(topic) << TailFile(tolerant.StderrPath(), 20);
  EXPECT_EQ(AppliedIds(), "p-0,p-4");
  KafkaReader reader(Harness().kafka_bootstrap_servers, {dead_letters});
  reader.CatchUp(30s);
  ASSERT_EQ(reader.Records().size(), 3u) << "dead letters";
  const std::vector<std::string> reasons{"handler_error", "missing_id", "invalid_payload"};
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    const KafkaRecord& letter = reader.Records()[i];
    const KafkaAdmin::Record& original = records[i + 1];
    EXPECT_EQ(letter.Header("__outbox_relay.errors.reason"), reasons[i]);
    EXPECT_EQ(letter.Header("__outbox_relay.errors.topic"), topic);
    EXPECT_EQ(letter.Header("__outbox_relay.errors.offset"), std::to_string(i + 1));
    EXPECT_EQ(letter.Header("__outbox_relay.errors.handler"),
              i == 0 ? std::optional<std::string>("app.apply_event") : std::nullopt);
    EXPECT_EQ(letter.key, original.key);
    EXPECT_EQ(letter.value, original.value) << "a dead letter carries the record as it was";
    EXPECT_EQ(letter.Header("id"),
              i == 1 ? std::nullopt : std::optional<std::string>(original.headers.back().second));
  }
  EXPECT_TRUE(Contains(ReadFile(tolerant.StderrPath()), "written to dead-letter topic " + dead_letters));
  PgConnection consumer = consumer_db_->Connect();
  EXPECT_EQ(consumer
                .Exec("SELECT string_agg(event_id, ',' ORDER BY kafka_offset) FROM inbox.processed "
                      "WHERE inbox_name = 'it'")
                .Text(0, 0),
            "p-0,p-1,kafka:" + topic + "/0/2,kafka:" + topic + "/0/3,p-4")
      << "every record's id recorded, an undecodable record's by its place";

  const std::string status = RunInboxCommand("status", 0);
  EXPECT_TRUE(Contains(status, topic + "/0  5  5  0")) << status;
  const std::string check = RunInboxCommand("check", 0);
  EXPECT_TRUE(Contains(check, "handler app.apply_event (inbox.handlers[0])")) << check;
  tolerant.Signal(SIGTERM);
  const auto exit = tolerant.WaitFor(60s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->Describe();
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
