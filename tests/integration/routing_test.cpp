// Issue 6 acceptance, end to end against the real PostgreSQL and Kafka: tableless events
// (outbox.publish_message) against table rows, several outbox tables with routing rules,
// the CloudEvents modes as read back from Kafka, and `outbox-relay replay`.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cloudevents_check.hpp"
#include "support/kafka_reader.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class RoutingTest : public RelayIntegrationTest {
 protected:
  void SetUp() override {
    RelayIntegrationTest::SetUp();
    slot_ = "it_route_" + suffix_;
    CreateDatabase();
    db_->DropSlotAtEnd(slot_);
  }

  // A relay config with this test's slot, the Kafka sink and `outbox` as the outbox section.
  std::string Config(const std::string& outbox, const std::string& publication = "outbox_relay") const {
    return "source:\n  dsn: \"" + db_->RelayDsn() + "\"\n  slot: " + slot_ + "\n  publication: " + publication +
           "\noutbox:\n" + outbox + "sink:\n  type: kafka\nkafka:\n  bootstrap.servers: \"" +
           Harness().kafka_bootstrap_servers + "\"\nhttp:\n  listen: \"127.0.0.1:0\"\nlog:\n  level: info\n";
  }

  RelayProcess& StartRelay(const std::string& outbox, const std::string& publication = "outbox_relay") {
    RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", Config(outbox, publication)), "relay");
    relay.Start();
    EXPECT_TRUE(db_->WaitForSlot(slot_, true, 30s)) << "the relay never held its slot";
    return relay;
  }

  // Reads `topics` until at least `count` records arrived (bounded), then returns them all.
  std::vector<KafkaRecord> ReadRecords(const std::vector<std::string>& topics, std::size_t count) {
    KafkaReader reader(Harness().kafka_bootstrap_servers, topics);
    const auto deadline = Clock::now() + 60s;
    while (reader.Records().size() < count && Clock::now() < deadline) {
      reader.CatchUp(30s);
      if (reader.Records().size() < count) std::this_thread::sleep_for(200ms);
    }
    EXPECT_GE(reader.Records().size(), count) << "records missing after 60 s";
    return reader.Records();
  }

  std::string Topic(const std::string& name) const { return name + "." + suffix_; }

  std::string slot_;
};

std::map<std::string, std::string> HeaderMap(const KafkaRecord& record) {
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : record.headers) headers[name] = value.value_or("<null>");
  return headers;
}

cloudevents_check::Headers HeaderList(const KafkaRecord& record) {
  cloudevents_check::Headers headers;
  for (const auto& [name, value] : record.headers) headers.emplace_back(name, value.value_or(""));
  return headers;
}

const KafkaRecord* FindById(const std::vector<KafkaRecord>& records, const std::string& id) {
  for (const auto& record : records) {
    if (record.Header("id") == id) return &record;
  }
  return nullptr;
}

// PostgreSQL 13's pgoutput has no messages option: a relay asked for tableless capture stops at
// start with one error naming outbox.capture, rather than stream without those events.
TEST_F(RoutingTest, TablelessCaptureBefore14StopsNamingOutboxCapture) {
  if (HarnessPgMajor() >= 14)
    GTEST_SKIP() << "PostgreSQL " << HarnessPgMajor() << " has pgoutput's messages option";
  RelayProcess& relay = NewRelay(
      WriteConfig("relay.yaml", Config("  capture: both\n  topic: \"" + Topic("it.tableless") + "\"\n")), "relay");
  relay.Start();
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay still runs 60 s after start";
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
  EXPECT_NE(ReadFile(relay.StderrPath()).find("outbox.capture: tableless capture needs PostgreSQL 14"),
            std::string::npos)
      << relay.StderrTail(5);
  EXPECT_FALSE(db_->Slot(slot_).has_value()) << "the relay created its slot anyway";
}

// The same event published both ways in one transaction: same id (the row is inserted with
// the id publish_message returned), same key, value bytes, topic and headers; only `source`
// tells them apart.
TEST_F(RoutingTest, PublishMessageMatchesTableRowOnTheWire) {
  if (HarnessPgMajor() < 14) GTEST_SKIP() << "tableless capture needs PostgreSQL 14 (pgoutput's messages option)";
  const std::string topic = Topic("it.tableless");
  StartRelay("  capture: both\n  topic: \"" + topic + "\"\n");
  PgConnection conn = db_->Connect();
  conn.Exec("BEGIN");
  const std::string id = conn.Exec(
                                 "SELECT outbox.publish_message('Order', 'order-1', 'OrderCreated', "
                                 "'{\"total\": 12, \"lines\": [1, 2]}', '{\"trace\": \"abc\", \"n\": 5}')::text")
                             .Text(0, 0);
  conn.Exec("INSERT INTO outbox.outbox (id, aggregatetype, aggregateid, type, payload, headers) VALUES ('" + id +
            "', 'Order', 'order-1', 'OrderCreated', '{\"total\": 12, \"lines\": [1, 2]}', "
            "'{\"trace\": \"abc\", \"n\": 5}')");
  conn.Exec("COMMIT");
  // A rolled-back publish_message never reaches Kafka.
  conn.Exec("BEGIN");
  conn.Exec("SELECT outbox.publish_message('Order', 'order-2', 'OrderCreated', '{}')");
  conn.Exec("ROLLBACK");
  conn.Exec("SELECT outbox.publish('Order', 'order-3', 'Marker', '{}')");

  const auto records = ReadRecords({topic}, 3);
  ASSERT_EQ(records.size(), 3u);
  std::vector<const KafkaRecord*> order_1;  // one key, one partition: in commit order
  for (const auto& record : records) {
    if (record.key == "order-1") order_1.push_back(&record);
    EXPECT_NE(record.key, "order-2") << "the rolled-back message must not be published";
  }
  ASSERT_EQ(order_1.size(), 2u);
  const KafkaRecord& message = *order_1[0];
  const KafkaRecord& row = *order_1[1];
  EXPECT_EQ(message.Header("source"), "message:outbox");
  EXPECT_EQ(row.Header("source"), "table:outbox.outbox");
  EXPECT_EQ(message.Header("id"), id);
  EXPECT_EQ(message.key, row.key);
  EXPECT_EQ(message.key, "order-1");
  EXPECT_EQ(message.value, row.value);
  EXPECT_EQ(message.value, R"({"lines": [1, 2], "total": 12})");  // jsonb's text, byte for byte
  EXPECT_EQ(message.topic, row.topic);
  EXPECT_EQ(message.partition, row.partition);
  auto message_headers = HeaderMap(message);
  auto row_headers = HeaderMap(row);
  message_headers.erase("source");
  row_headers.erase("source");
  EXPECT_EQ(message_headers, row_headers);
  EXPECT_EQ(message_headers["n"], "5");
}

// Two bounded contexts' outbox tables in one relay: the topic template routes by schema, and
// a rule sends one event type of one table elsewhere, keyed and framed differently.
TEST_F(RoutingTest, TwoTablesRoutedToDifferentTopics) {
  PgConnection conn = db_->Connect();
  conn.Exec(
      "CREATE SCHEMA billing; CREATE TABLE billing.outbox (LIKE outbox.outbox INCLUDING ALL);"
      "CREATE PUBLICATION routed FOR TABLE outbox.outbox, billing.outbox WITH (publish = 'insert')");
  const std::string orders = Topic("it.outbox");
  const std::string billing = Topic("it.billing");
  const std::string paid = Topic("it.paid");
  StartRelay("  tables: [outbox.outbox, billing.outbox]\n  topic: \"it.{schema}." + suffix_ +
                 "\"\n  routes:\n    - source: table:billing.outbox\n      type: InvoicePaid\n      topic: " +
                 paid + "\n      key: id\n      format: envelope\n",
             "routed");
  conn.Exec("BEGIN");
  conn.Exec("SELECT outbox.publish('Order', 'o-1', 'OrderPlaced', '{\"n\": 1}')");
  conn.Exec(
      "INSERT INTO billing.outbox (aggregatetype, aggregateid, type, payload) VALUES "
      "('Invoice', 'inv-1', 'InvoiceIssued', '{\"n\": 2}'), ('Invoice', 'inv-1', 'InvoicePaid', '{\"n\": 3}')");
  conn.Exec("COMMIT");

  const auto records = ReadRecords({orders, billing, paid}, 3);
  ASSERT_EQ(records.size(), 3u);
  std::map<std::string, const KafkaRecord*> by_type;
  for (const auto& record : records) by_type[record.Header("type").value_or("")] = &record;
  ASSERT_EQ(by_type.size(), 3u);
  EXPECT_EQ(by_type["OrderPlaced"]->topic, orders);
  EXPECT_EQ(by_type["OrderPlaced"]->Header("source"), "table:outbox.outbox");
  EXPECT_EQ(by_type["InvoiceIssued"]->topic, billing);
  EXPECT_EQ(by_type["InvoiceIssued"]->key, "inv-1");
  EXPECT_EQ(by_type["InvoiceIssued"]->value, R"({"n": 2})");
  EXPECT_EQ(by_type["InvoiceIssued"]->Header("source"), "table:billing.outbox");
  const KafkaRecord& invoice_paid = *by_type["InvoicePaid"];
  EXPECT_EQ(invoice_paid.topic, paid);
  EXPECT_EQ(invoice_paid.key, invoice_paid.Header("id")) << "the rule keys by the id column";
  const auto envelope = nlohmann::json::parse(invoice_paid.value.value_or(""), nullptr, false);
  ASSERT_TRUE(envelope.is_object()) << invoice_paid.value.value_or("<null>");
  EXPECT_EQ(envelope["aggregate_id"], "inv-1");
  EXPECT_EQ(envelope["type"], "InvoicePaid");
  EXPECT_EQ(envelope["payload"], nlohmann::json({{"n", 3}}));
}

// Both CloudEvents modes, as a consumer reads them from Kafka, pass the spec's rules, and a
// consumer gets the same facts from either.
TEST_F(RoutingTest, CloudEventsModesPassTheSpecRules) {
  const std::string topic = Topic("it.ce");
  StartRelay("  topic: \"" + topic +
             "\"\n  cloudevents:\n    source: /it/orders\n  routes:\n"
             "    - {aggregate_type: Binary, format: cloudevents-binary}\n"
             "    - {aggregate_type: Structured, format: cloudevents-structured}\n");
  PgConnection conn = db_->Connect();
  conn.Exec("BEGIN");
  const std::string binary_id =
      conn.Exec("SELECT outbox.publish('Binary', 'a-1', 'Created', '{\"x\": \"é\"}')::text").Text(0, 0);
  const std::string structured_id =
      conn.Exec("SELECT outbox.publish('Structured', 'a-1', 'Created', '{\"x\": \"é\"}')::text").Text(0, 0);
  conn.Exec("COMMIT");

  const auto records = ReadRecords({topic}, 2);
  const KafkaRecord* binary = FindById(records, binary_id);
  const KafkaRecord* structured = FindById(records, structured_id);
  ASSERT_NE(binary, nullptr);
  ASSERT_NE(structured, nullptr);

  EXPECT_EQ(cloudevents_check::BinaryProblems(HeaderList(*binary)), std::vector<std::string>{});
  EXPECT_EQ(binary->Header("ce_id"), binary_id);
  EXPECT_EQ(binary->Header("ce_source"), "/it/orders");
  EXPECT_EQ(binary->Header("ce_type"), "Created");
  EXPECT_EQ(binary->Header("ce_subject"), "a-1");
  EXPECT_EQ(binary->Header("content-type"), "application/json");
  EXPECT_EQ(binary->value, R"({"x": "é"})");

  EXPECT_EQ(cloudevents_check::StructuredProblems(structured->value), std::vector<std::string>{});
  EXPECT_EQ(structured->Header("content-type"), "application/cloudevents+json; charset=UTF-8");
  const auto event = nlohmann::json::parse(structured->value.value_or(""), nullptr, false);
  ASSERT_TRUE(event.is_object());
  EXPECT_EQ(event["id"], structured_id);
  EXPECT_EQ(event["source"], "/it/orders");
  EXPECT_EQ(event["subject"], "a-1");
  EXPECT_EQ(event["data"], nlohmann::json({{"x", "é"}}));
  // The commit time: one transaction, one time, in both modes.
  EXPECT_EQ(event["time"], binary->Header("ce_time").value_or(""));
}

// replay re-publishes exactly the rows of the selected LSN range (and, by time, the selected
// window and aggregate type), each marked with a replay header, and leaves the slot alone.
TEST_F(RoutingTest, ReplayRepublishesExactlyTheSelectedRange) {
  PgConnection conn = db_->Connect();
  // The slot exists (a relay ran before) but nobody streams from it during the replay.
  conn.Exec("SELECT pg_create_logical_replication_slot('" + slot_ + "', 'pgoutput')");
  const auto slot_before = db_->Slot(slot_);
  ASSERT_TRUE(slot_before.has_value());

  const auto publish = [&conn](const std::string& aggregate_type, int from, int to,
                               const std::string& created_at) {
    std::set<std::string> ids;
    conn.Exec("BEGIN");
    for (int i = from; i < to; ++i) {
      ids.insert(conn.Exec("INSERT INTO outbox.outbox (aggregatetype, aggregateid, type, payload, created_at) "
                           "VALUES ('" +
                           aggregate_type + "', 'agg-" + std::to_string(i % 3) + "', 'Happened', '{\"i\": " +
                           std::to_string(i) + "}', '" + created_at + "') RETURNING id::text")
                     .Text(0, 0));
    }
    conn.Exec("COMMIT");
    return ids;
  };
  const auto lsn = [&conn] { return conn.Exec("SELECT pg_current_wal_insert_lsn()::text").Text(0, 0); };
  publish("Order", 0, 5, "2026-01-01 10:00:00+00");
  const std::string from = lsn();
  const std::set<std::string> selected = publish("Order", 5, 15, "2026-01-02 10:00:00+00");
  const std::string to = lsn();
  publish("Order", 15, 20, "2026-01-03 10:00:00+00");
  const std::set<std::string> other_type = publish("Invoice", 20, 24, "2026-01-02 11:00:00+00");

  const std::string topic = Topic("it.replay");
  const std::string config = WriteConfig("replay.yaml", Config("  topic: \"" + topic + "\"\n"));
  RelayProcess& by_lsn = NewRelayCommand({"replay", "--config", config, "--from", from, "--to", to}, "replay-lsn");
  by_lsn.Start();
  auto exit = by_lsn.WaitFor(60s);
  ASSERT_TRUE(exit && exit->exited && exit->code == 0) << by_lsn.StderrTail(20);
  EXPECT_NE(ReadFile(by_lsn.StdoutPath()).find("replayed 10 events"), std::string::npos);

  // By time and aggregate type: the Invoice rows of 2 January only.
  RelayProcess& by_time = NewRelayCommand({"replay", "--config", config, "--from", "2026-01-02 00:00:00+00",
                                           "--to", "2026-01-02 23:59:59+00", "--aggregate-type", "Invoice"},
                                          "replay-time");
  by_time.Start();
  exit = by_time.WaitFor(60s);
  ASSERT_TRUE(exit && exit->exited && exit->code == 0) << by_time.StderrTail(20);

  const auto records = ReadRecords({topic}, selected.size() + other_type.size());
  std::set<std::string> replayed_by_lsn;
  std::set<std::string> replayed_by_time;
  std::map<std::string, std::vector<int>> order_by_key;
  for (const auto& record : records) {
    const std::string id = record.Header("id").value_or("");
    EXPECT_TRUE(record.Header("replay").has_value()) << id;
    EXPECT_EQ(record.HeaderCount("commit_lsn"), 0u) << "a replayed event has no commit LSN of its own";
    (record.Header("aggregate_type") == "Invoice" ? replayed_by_time : replayed_by_lsn).insert(id);
    const auto payload = nlohmann::json::parse(record.value.value_or("{}"));
    order_by_key[record.key.value_or("")].push_back(payload.value("i", -1));
  }
  EXPECT_EQ(replayed_by_lsn, selected);
  EXPECT_EQ(replayed_by_time, other_type);
  EXPECT_EQ(records.size(), selected.size() + other_type.size()) << "nothing outside the ranges, no duplicates";
  for (const auto& [key, sequence] : order_by_key) {
    EXPECT_TRUE(std::is_sorted(sequence.begin(), sequence.end())) << "insert order per key " << key;
  }

  const auto slot_after = db_->Slot(slot_);
  ASSERT_TRUE(slot_after.has_value());
  EXPECT_EQ(slot_after->confirmed_flush_lsn, slot_before->confirmed_flush_lsn);
  EXPECT_FALSE(slot_after->active);
}

// Bad bounds are reported as argument errors before anything is published.
TEST_F(RoutingTest, ReplayRejectsBadBounds) {
  const std::string config = WriteConfig("replay.yaml", Config("  topic: \"" + Topic("it.replay.bad") + "\"\n"));
  RelayProcess& replay = NewRelayCommand({"replay", "--config", config, "--from", "yesterday-ish"}, "replay-bad");
  replay.Start();
  const auto exit = replay.WaitFor(60s);
  ASSERT_TRUE(exit && exit->exited);
  EXPECT_EQ(exit->code, 2);
  EXPECT_NE(ReadFile(replay.StderrPath()).find("yesterday-ish"), std::string::npos) << replay.StderrTail(5);
}

}  // namespace
}  // namespace outbox_relay::it
