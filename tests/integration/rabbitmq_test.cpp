// The RabbitMQ sink against the harness's real RabbitMQ, held to the Kafka sink's oracle
// (support/oracle.hpp): a clean run, a crash loop with a broker restart, unroutable messages
// under both poison policies, and TLS.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <random>
#include <thread>
#include <unordered_set>

#include "support/http_client.hpp"
#include "support/lsn_text.hpp"
#include "support/oracle.hpp"
#include "support/rabbitmq_client.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// The id outbox.publish returned, from a statement selecting it as text.
std::string Published(PgConnection& conn, const std::string& sql) { return conn.Exec(sql).Text(0, 0); }

class RabbitMqTest : public RelayIntegrationTest {
 protected:
  void SetUp() override {
    RelayIntegrationTest::SetUp();
    rabbit_ = StartRabbitMq(temp_->Path());
    client_ = std::make_unique<RabbitMqClient>(rabbit_);
    exchange_ = "it." + suffix_;
    queue_ = "it." + suffix_;
    dead_letter_exchange_ = "it." + suffix_ + ".dlx";
    dead_letter_queue_ = "it." + suffix_ + ".dead";
    client_->DeclareExchange(exchange_);
    client_->DeclareExchange(dead_letter_exchange_);
    client_->DeclareQueue(dead_letter_queue_, dead_letter_exchange_, "#");
  }

  void TearDown() override {
    RelayIntegrationTest::TearDown();
    if (!client_) return;
    try {
      // A restarted broker closed the old connection.
      client_ = std::make_unique<RabbitMqClient>(rabbit_);
      for (const std::string& queue : {queue_, dead_letter_queue_}) client_->DeleteQueue(queue);
      for (const std::string& exchange : {exchange_, dead_letter_exchange_}) client_->DeleteExchange(exchange);
    } catch (const std::exception& error) {
      std::cout << "[ warn ] RabbitMQ clean-up failed: " << error.what() << "\n";
    }
  }

  // The relay's config: the scenario's slot and topic template (the routing keys), this test's
  // exchanges; `tls` over AMQPS with `ca_file`.
  std::string Config(const KafkaScenario& scenario, const std::string& extra = "", bool tls = false,
                     const std::string& ca_file = "") {
    RelayConfigOptions options;
    options.dsn = db_->RelayDsn();
    options.slot = scenario.slot;
    options.topic = scenario.topic_template;
    options.sink = "rabbitmq";
    options.more["rabbitmq"] = {{"host", tls ? "localhost" : rabbit_.host},
                                {"port", std::to_string(tls ? rabbit_.tls_port : rabbit_.port)},
                                {"username", rabbit_.user},
                                {"password", rabbit_.password},
                                {"exchange", exchange_},
                                {"dead_letter_exchange", dead_letter_exchange_},
                                {"heartbeat_seconds", "5"}};
    if (tls) {
      options.more["rabbitmq"]["tls"] = "true";
      options.more["rabbitmq"]["ca_file"] = ca_file;
    }
    return RenderRelayConfig(options) + extra;
  }

  // What the oracle needs before any event is written: the scenario (its slots dropped at the
  // end), the queue bound to every routing key, the other table and the oracle slots.
  KafkaScenario PrepareWorkload(TestDatabase& db, const WorkloadOptions& workload, PgConnection& conn) {
    KafkaScenario scenario = KafkaScenario::Make(suffix_, workload);
    scenario.DropSlotsAtEnd(db);
    client_->DeclareQueue(queue_, exchange_, "#");
    CreateOtherTable(conn);
    CreateOracleSlot(conn, scenario.oracle_slot);
    return scenario;
  }

  // Every committed event, read back and judged by the oracle; nothing lost or reordered.
  DeliveryReport Judge(PgConnection& conn, const KafkaScenario& scenario,
                       const std::vector<std::string>& rolled_back, std::vector<KafkaRecord>& records) {
    const std::vector<LedgerEvent> ledger = ReadLedger(conn);
    std::vector<std::string> wanted;
    for (const LedgerEvent& event : ledger) wanted.push_back(event.id);
    const auto start = std::chrono::steady_clock::now();
    const std::size_t delivered = TakeUntilDelivered(*client_, queue_, wanted, 240s, records);
    std::cout << "[ info ] " << delivered << " of " << wanted.size() << " events read from RabbitMQ in "
              << Seconds(std::chrono::steady_clock::now() - start) << "\n";
    const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
    EXPECT_TRUE(oracle.anomalies.empty());
    AnalysisOptions analysis;
    analysis.topic_template = scenario.topic_template;
    analysis.oracle = &oracle;
    analysis.rolled_back_ids.insert(rolled_back.begin(), rolled_back.end());
    DeliveryReport report = Analyze(ledger, records, analysis);
    std::cout << "[ oracle ] " << report.Summary() << "\n";
    std::cout << "[ oracle ] lost=" << report.lost << " duplicated=" << report.duplicated
              << " reordered=" << report.reordered << "\n";
    ExpectNothingLostOrReordered(report);
    EXPECT_EQ(client_->MessageIdMismatches(), 0u) << "messages whose message_id is not the event id";
    return report;
  }

  RabbitMqEnv rabbit_;
  std::unique_ptr<RabbitMqClient> client_;
  std::string exchange_;
  std::string queue_;
  std::string dead_letter_exchange_;
  std::string dead_letter_queue_;
};

// 10,000 events in 1-, 10- and 1,000-row transactions with rollbacks and writes to another
// table: each committed event once, in per-aggregate commit order, with its metadata; the slot
// confirmed past the last commit after SIGTERM.
TEST_F(RabbitMqTest, DeliversEveryCommittedEventOnceInOrder) {
  TestDatabase& db = CreateDatabase();
  WorkloadOptions workload;
  workload.seed = std::random_device{}();
  PgConnection conn = db.Connect();
  const KafkaScenario scenario = PrepareWorkload(db, workload, conn);
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", Config(scenario)), "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << relay.StderrTail(20);
  const WorkloadResult written = RunWorkload(conn, workload, nullptr, nullptr);
  std::cout << "[ info ] seed " << workload.seed << ": wrote " << written.committed_events << " events in "
            << written.committed_transactions << " transactions, " << written.rolled_back_transactions
            << " rolled back, in " << Seconds(written.elapsed) << "\n";
  std::vector<KafkaRecord> records;
  const DeliveryReport report = Judge(conn, scenario, written.rolled_back_ids, records);
  EXPECT_EQ(report.committed, 10000u);
  EXPECT_EQ(report.duplicated, 0u) << "a clean run must not duplicate";
  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->Describe();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));
  const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
  EXPECT_GE(db.Slot(scenario.slot)->confirmed_flush_lsn.value_or(0), oracle.max_commit_end_lsn);
}

// 20 SIGKILLs of the relay at random points while a writer commits, and one broker restart
// under the running relay in the middle: nothing lost or reordered; the duplicates (redelivered
// unconfirmed messages) are counted and printed.
TEST_F(RabbitMqTest, SurvivesSigkillsAndABrokerRestart) {
  TestDatabase& db = CreateDatabase();
  WorkloadOptions workload = WorkloadOptions::Sized(2000, 300, 5, 600);  // ~17 s: every kill lands mid-write
  workload.seed = std::random_device{}();
  PgConnection conn = db.Connect();
  const KafkaScenario scenario = PrepareWorkload(db, workload, conn);
  const std::string config = WriteConfig("relay.yaml", Config(scenario));
  RelayProcess* relay = &NewRelay(config, "relay-0");
  relay->Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << relay->StderrTail(20);
  BackgroundWriter writer(db.Connect(), workload);
  std::mt19937 random(static_cast<std::mt19937::result_type>(workload.seed));
  std::uniform_int_distribution<int> pause_ms(200, 900);
  constexpr int kKills = 20;
  for (int kill = 1; kill <= kKills; ++kill) {
    if (kill == kKills / 2) {
      // Under the running relay: it loses its connection, reconnects with backoff and sends
      // every unconfirmed message again.
      const auto took = RunHarnessCommand("restart-rabbitmq", temp_->Path(), 3min);
      std::cout << "[ info ] RabbitMQ restarted in " << Seconds(took) << " under the running relay\n";
      const auto connections = [&] {
        const std::string log = ReadFile(relay->StderrPath());
        std::size_t count = 0;
        for (auto at = log.find("connected to RabbitMQ at"); at != std::string::npos;
             at = log.find("connected to RabbitMQ at", at + 1)) {
          ++count;
        }
        return count;
      };
      ASSERT_TRUE(WaitUntil([&] { return connections() >= 2; }, 60s))
          << "the relay did not reconnect within 60 s: " << relay->StderrTail(20);
      ASSERT_EQ(connections(), 2u) << relay->StderrTail(20);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
    ASSERT_TRUE(relay->Running()) << "the relay exited on its own: " << relay->StderrTail(20);
    relay->Signal(SIGKILL);
    ASSERT_TRUE(relay->WaitFor(10s).has_value());
    relay = &NewRelay(config, "relay-" + std::to_string(kill));
    relay->Start();
    // The next kill lands once the new relay streams again.
    ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << relay->StderrTail(20);
    std::cout << "[ info ] kill " << kill << "/" << kKills << " at " << writer.Committed()
              << " committed events\n";
  }
  ASSERT_TRUE(writer.WaitFor(300s)) << "the writer did not finish";
  ASSERT_EQ(writer.Error(), "");
  client_ = std::make_unique<RabbitMqClient>(rabbit_);  // the restart closed the old connection
  std::vector<KafkaRecord> records;
  const DeliveryReport report = Judge(conn, scenario, writer.Result().rolled_back_ids, records);
  std::cout << "[ result ] " << kKills << " SIGKILLs and 1 broker restart over " << report.committed
            << " events: lost " << report.lost << ", reordered " << report.reordered << ", duplicated "
            << report.duplicated << " (" << report.duplicated_ids << " events)\n";
  EXPECT_TRUE(relay->Running()) << relay->StderrTail(20);
}

// A message no queue is bound for comes back from the broker: a poison row of reason
// unroutable. dead-letter: it goes to the dead-letter exchange with the reason headers and the
// routed events keep flowing; fail: the relay stops before its transaction.
TEST_F(RabbitMqTest, UnroutableMessagesFollowThePoisonPolicy) {
  TestDatabase& db = CreateDatabase();
  WorkloadOptions workload;
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, workload);
  scenario.DropSlotsAtEnd(db);
  // Only orders are bound; the ghost aggregate type routes nowhere.
  client_->DeclareQueue(queue_, exchange_, TopicFor(scenario.topic_template, "order"));
  PgConnection conn = db.Connect();
  RelayProcess& relay = NewRelay(
      WriteConfig("relay.yaml", Config(scenario, "on_poison: dead-letter\ndead_letter:\n  topic: dead\n")),
      "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << relay.StderrTail(20);
  std::vector<std::string> orders;
  std::vector<std::string> ghosts;
  for (int i = 0; i < 10; ++i) {
    const char* type = i % 3 == 0 ? "ghost" : "order";
    const std::string id = Published(conn, "SELECT outbox.publish('" + std::string(type) + "', 'agg-" +
                                               std::to_string(i) + "', 'Happened', '{\"seq\": 1}'::jsonb)::text");
    (i % 3 == 0 ? ghosts : orders).push_back(id);
  }
  std::vector<KafkaRecord> routed;
  EXPECT_EQ(TakeUntilDelivered(*client_, queue_, orders, 60s, routed), orders.size());
  std::vector<KafkaRecord> dead;
  ASSERT_EQ(TakeUntilDelivered(*client_, dead_letter_queue_, ghosts, 60s, dead), ghosts.size());
  for (const KafkaRecord& record : dead) {
    EXPECT_EQ(record.topic, "dead");
    EXPECT_EQ(record.Header("__outbox_relay.errors.reason"), "unroutable");
    EXPECT_TRUE(Contains(record.Header("__outbox_relay.errors.message").value_or(""), "312 NO_ROUTE"));
    EXPECT_EQ(record.Header("__outbox_relay.errors.topic"), TopicFor(scenario.topic_template, "ghost"));
    EXPECT_EQ(record.value, "{\"seq\": 1}");
  }
  const int port = WaitForHttpPort(relay, 30s);
  const auto metrics = HttpGet("127.0.0.1", port, "/metrics").body;
  EXPECT_EQ(MetricSample(metrics, "outbox_relay_dead_lettered_total{reason=\"unroutable\"}"),
            static_cast<double>(ghosts.size()));
  relay.Signal(SIGTERM);
  ASSERT_TRUE(relay.WaitFor(60s).has_value());
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));

  // on_poison: fail stops at the next unroutable row, exit 1, its transaction unconfirmed.
  const auto confirmed_before = db.Slot(scenario.slot)->confirmed_flush_lsn.value_or(0);
  const std::string ghost =
      Published(conn, "SELECT outbox.publish('ghost', 'agg-x', 'Happened', '{}'::jsonb)::text");
  RelayProcess& failing = NewRelay(WriteConfig("fail.yaml", Config(scenario, "on_poison: fail\n")), "fail");
  failing.Start();
  const auto exit = failing.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "on_poison: fail did not stop the relay";
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
  const std::string stderr_text = ReadFile(failing.StderrPath());
  EXPECT_TRUE(Contains(stderr_text, "reason unroutable")) << stderr_text;
  EXPECT_TRUE(Contains(stderr_text, ghost)) << stderr_text;
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));
  EXPECT_EQ(db.Slot(scenario.slot)->confirmed_flush_lsn.value_or(0), confirmed_before)
      << "the slot moved past the unroutable row";
}

// AMQPS with the broker's certificate verified (the harness CA, host name localhost): events
// arrive. With an unrelated CA the relay never connects, says why, and delivers nothing.
TEST_F(RabbitMqTest, TlsVerifiesTheBroker) {
  TestDatabase& db = CreateDatabase();
  WorkloadOptions workload;
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, workload);
  scenario.DropSlotsAtEnd(db);
  client_->DeclareQueue(queue_, exchange_, "#");
  PgConnection conn = db.Connect();

  RelayProcess& refused = NewRelay(
      // Its SIGTERM would wait the whole default shutdown.timeout_ms for the undeliverable event.
      WriteConfig("unrelated.yaml", Config(scenario, "shutdown:\n  timeout_ms: 1000\n", true,
                                           Harness().Get("HARNESS_UNRELATED_CA_FILE"))),
      "unrelated-ca");
  refused.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << refused.StderrTail(20);
  const std::string early =
      Published(conn, "SELECT outbox.publish('order', 'agg-1', 'Happened', '{}'::jsonb)::text");
  EXPECT_TRUE(WaitForText(refused.StderrPath(), "cannot connect to RabbitMQ", 30s));
  const std::string stderr_text = ReadFile(refused.StderrPath());
  EXPECT_TRUE(Contains(stderr_text, "cannot connect to RabbitMQ at amqps://localhost")) << stderr_text;
  EXPECT_TRUE(Contains(stderr_text, "rabbitmq.ca_file")) << stderr_text;
  EXPECT_FALSE(Contains(stderr_text, rabbit_.password)) << "the password appeared in the log";
  EXPECT_TRUE(client_->Take(queue_).empty()) << "delivered without a verified broker";
  refused.Signal(SIGTERM);
  ASSERT_TRUE(refused.WaitFor(60s).has_value());
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));

  RelayProcess& relay =
      NewRelay(WriteConfig("tls.yaml", Config(scenario, "", true, Harness().Get("HARNESS_CA_FILE"))), "tls");
  relay.Start();
  std::vector<std::string> ids{early};
  for (int i = 0; i < 99; ++i) {
    ids.push_back(Published(conn, "SELECT outbox.publish('order', 'agg-1', 'Happened', '{}'::jsonb)::text"));
  }
  std::vector<KafkaRecord> records;
  EXPECT_EQ(TakeUntilDelivered(*client_, queue_, ids, 60s, records), ids.size()) << relay.StderrTail(20);
  EXPECT_TRUE(Contains(ReadFile(relay.StderrPath()), "connected to RabbitMQ at amqps://localhost"));
}

// rabbitmq.stream: the relay declares the stream and publishes every event to it through the
// default exchange, in commit order; a consumer replays it from the first offset.
TEST_F(RabbitMqTest, PublishesEveryEventToAStream) {
  TestDatabase& db = CreateDatabase();
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, WorkloadOptions{});
  scenario.DropSlotsAtEnd(db);
  const std::string stream = "it." + suffix_ + ".stream";
  PgConnection conn = db.Connect();
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", Config(scenario)), "relay");
  relay.SetEnvironment({{"OUTBOX_RELAY_RABBITMQ_STREAM", stream}});
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << relay.StderrTail(20);
  std::vector<std::string> committed;
  for (int i = 0; i < 200; ++i) {
    committed.push_back(Published(conn, "SELECT outbox.publish('" + std::string(i % 2 == 0 ? "order" : "invoice") +
                                            "', 'agg-" + std::to_string(i % 5) +
                                            "', 'Happened', '{}'::jsonb)::text"));
  }
  const std::vector<KafkaRecord> records = client_->ReadStream(stream, committed.size(), 60s);
  std::vector<std::string> read;
  for (const KafkaRecord& record : records) {
    read.push_back(record.Header("id").value_or(""));
    EXPECT_EQ(record.topic, stream) << "routed by the default exchange to the stream";
  }
  EXPECT_EQ(read, committed) << "the stream holds every event once, in commit order";
  client_->DeleteQueue(stream);
}

// A broker that stops answering without closing anything (frozen with SIGSTOP, as a network
// partition looks): the heartbeat ends the connection within twice rabbitmq.heartbeat_seconds,
// reconnecting fails while it stays silent, and once it answers again every event arrives.
TEST_F(RabbitMqTest, ASilentBrokerIsNoticedByTheHeartbeat) {
  TestDatabase& db = CreateDatabase();
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, WorkloadOptions{});
  scenario.DropSlotsAtEnd(db);
  client_->DeclareQueue(queue_, exchange_, "#");
  PgConnection conn = db.Connect();
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", Config(scenario)), "relay");
  relay.SetEnvironment(
      {{"OUTBOX_RELAY_RABBITMQ_HEARTBEAT_SECONDS", "2"}, {"OUTBOX_RELAY_RABBITMQ_CONNECT_TIMEOUT_MS", "1000"}});
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << relay.StderrTail(20);
  const auto publish = [&](int count, std::vector<std::string>& ids) {
    for (int i = 0; i < count; ++i) {
      ids.push_back(Published(conn, "SELECT outbox.publish('order', 'agg-1', 'Happened', '{}'::jsonb)::text"));
    }
  };
  std::vector<std::string> ids;
  publish(20, ids);
  std::vector<KafkaRecord> records;
  ASSERT_EQ(TakeUntilDelivered(*client_, queue_, ids, 60s, records), ids.size()) << relay.StderrTail(20);

  const int broker = std::stoi(ReadEnvFile(Harness().Get("HARNESS_DIR") + "/rabbitmq.env").at("RABBITMQ_PID"));
  struct Thaw {
    int pid;
    ~Thaw() { ::kill(pid, SIGCONT); }
  } thaw{broker};
  ASSERT_EQ(::kill(broker, SIGSTOP), 0);
  publish(20, ids);
  EXPECT_TRUE(WaitForText(relay.StderrPath(), "heartbeat timeout", 30s)) << relay.StderrTail(20);
  ::kill(broker, SIGCONT);
  EXPECT_EQ(TakeUntilDelivered(*client_, queue_, ids, 120s, records), ids.size()) << relay.StderrTail(20);
  EXPECT_TRUE(relay.Running()) << relay.StderrTail(20);
}

// check: the sink line names the delivery guarantee; the broker, the login and the fixed
// exchanges are checked without creating anything; a missing exchange and a wrong password fail
// it (exit 1) with the broker's reason, and the password never appears.
TEST_F(RabbitMqTest, CheckVerifiesTheBrokerAndTheExchanges) {
  TestDatabase& db = CreateDatabase();
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, WorkloadOptions{});
  scenario.DropSlotsAtEnd(db);
  const auto run_check = [&](const std::string& name, const std::string& yaml) {
    RelayProcess& check = NewRelayCommand({"check", "--config", WriteConfig(name + ".yaml", yaml)}, name);
    check.Start();
    const auto exit = check.WaitFor(60s);
    EXPECT_TRUE(exit.has_value()) << name << " did not finish";
    return std::pair(exit.value_or(ExitStatus{}).code, ReadFile(check.StdoutPath()));
  };
  const auto [ok_code, ok_text] = run_check("check", Config(scenario, "on_poison: dead-letter\n"));
  EXPECT_EQ(ok_code, 0) << ok_text;
  EXPECT_TRUE(Contains(ok_text, "sink rabbitmq (sink.type): at-least-once")) << ok_text;
  EXPECT_TRUE(Contains(ok_text, "exchange " + exchange_ + " exists")) << ok_text;
  EXPECT_TRUE(Contains(ok_text, "exchange " + dead_letter_exchange_ + " exists")) << ok_text;

  std::string missing = Config(scenario);
  const std::string exchange_line = "\n  exchange: " + exchange_ + "\n";
  missing.replace(missing.find(exchange_line), exchange_line.size(), "\n  exchange: " + exchange_ + ".missing\n");
  const auto [missing_code, missing_text] = run_check("missing", missing);
  EXPECT_EQ(missing_code, 1) << missing_text;
  EXPECT_TRUE(Contains(missing_text, "404 NOT_FOUND")) << missing_text;

  std::string wrong = Config(scenario);
  wrong.replace(wrong.find(rabbit_.password), rabbit_.password.size(), "not-" + rabbit_.password);
  const auto [wrong_code, wrong_text] = run_check("wrong-password", wrong);
  EXPECT_EQ(wrong_code, 1) << wrong_text;
  EXPECT_TRUE(Contains(wrong_text, "refused the login")) << wrong_text;
  EXPECT_FALSE(Contains(wrong_text, rabbit_.password)) << "the password appeared in check's output";
}

}  // namespace
}  // namespace outbox_relay::it
