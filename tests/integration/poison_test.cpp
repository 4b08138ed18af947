// Issue 8, poison rows, against the real PostgreSQL and Kafka: every kind of row the relay
// cannot publish (payload not JSON for a JSON format, empty key, missing column, illegal topic,
// a record over the producer's message.max.bytes, a record over a topic's max.message.bytes)
// under on_poison: fail (exit 1, the slot stays before the row, a restart stops at it again)
// and on_poison: dead-letter (the dead-letter record and its headers, the good rows around it
// in order, the metric, the log line, the slot confirmed past it), in both delivery modes.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/kafka_admin.hpp"
#include "support/kafka_reader.hpp"
#include "support/lsn_text.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kLoopback[] = "127.0.0.1";
// The relay's kafka.message.max.bytes, and the max.message.bytes of the "Limited" topic: a
// 150 kB record is over the first (refused by librdkafka), a 50 kB one only over the second
// (refused by the broker, in a delivery report).
constexpr char kProducerLimit[] = "100000";
constexpr char kTopicLimit[] = "20000";
constexpr int kOverProducerLimitPad = 150000;
constexpr int kOverTopicLimitPad = 50000;

enum class Kind { kInvalidJson, kMissingKey, kMissingColumn, kInvalidTopic, kOverProducerLimit, kOverTopicLimit };

constexpr std::array<Kind, 6> kAllKinds = {Kind::kInvalidJson,  Kind::kMissingKey,        Kind::kMissingColumn,
                                           Kind::kInvalidTopic, Kind::kOverProducerLimit, Kind::kOverTopicLimit};

std::string KindName(Kind kind) {
  switch (kind) {
    case Kind::kInvalidJson:
      return "InvalidJson";
    case Kind::kMissingKey:
      return "MissingKey";
    case Kind::kMissingColumn:
      return "MissingColumn";
    case Kind::kInvalidTopic:
      return "InvalidTopic";
    case Kind::kOverProducerLimit:
      return "OverProducerLimit";
    case Kind::kOverTopicLimit:
      return "OverTopicLimit";
  }
  return "?";
}

std::string ReasonOf(Kind kind) {
  switch (kind) {
    case Kind::kInvalidJson:
      return "invalid_json";
    case Kind::kMissingKey:
      return "missing_key";
    case Kind::kMissingColumn:
      return "missing_column";
    case Kind::kInvalidTopic:
      return "invalid_topic";
    case Kind::kOverProducerLimit:
    case Kind::kOverTopicLimit:
      return "record_too_large";
  }
  return "?";
}

// The table a poison row of `kind` is inserted into.
std::string TableOf(Kind kind) {
  switch (kind) {
    case Kind::kInvalidJson:
      return "outbox.text_events";  // payload is text, framed as an envelope
    case Kind::kMissingColumn:
      return "outbox.legacy";  // lacks the order_id column its routing rule keys by
    default:
      return "outbox.outbox";
  }
}

std::string PadPayload(int pad) { return "{\"pad\": \"" + std::string(static_cast<std::size_t>(pad), 'x') + "\"}"; }

// The INSERT of one poison row of `kind`, returning its id.
std::string PoisonSql(Kind kind) {
  const std::string columns = " (aggregatetype, aggregateid, type, payload) VALUES ";
  switch (kind) {
    case Kind::kInvalidJson:
      return "INSERT INTO outbox.text_events" + columns + "('Text', 'key-json', 'Created', '{not json') RETURNING id::text";
    case Kind::kMissingKey:
      return "INSERT INTO outbox.outbox" + columns + "('Good', '', 'Created', '{\"poison\": 1}') RETURNING id::text";
    case Kind::kMissingColumn:
      return "INSERT INTO outbox.legacy" + columns + "('Legacy', 'key-legacy', 'Created', '{\"poison\": 2}') RETURNING id::text";
    case Kind::kInvalidTopic:
      return "INSERT INTO outbox.outbox" + columns + "('Bad Type', 'key-topic', 'Created', '{\"poison\": 3}') RETURNING id::text";
    case Kind::kOverProducerLimit:
      return "INSERT INTO outbox.outbox" + columns + "('Big', 'key-big', 'Created', jsonb_build_object('pad', repeat('x', " +
             std::to_string(kOverProducerLimitPad) + "))) RETURNING id::text";
    case Kind::kOverTopicLimit:
      return "INSERT INTO outbox.outbox" + columns + "('Limited', 'key-limited', 'Created', jsonb_build_object('pad', repeat('x', " +
             std::to_string(kOverTopicLimitPad) + "))) RETURNING id::text";
  }
  return {};
}

// One poison transaction as written: the row's id and WAL positions around its commit record,
// whose start is the transaction's commit LSN.
struct PoisonWrite {
  Kind kind;
  std::string id;
  std::uint64_t before_commit = 0;
  std::uint64_t after_commit = 0;
};

std::uint64_t InsertLsn(PgConnection& conn) {
  return ParseLsnText(conn.Exec("SELECT pg_current_wal_insert_lsn()::text").Text(0, 0)).value();
}

class PoisonTest : public RelayIntegrationTest {
 protected:
  void SetUp() override {
    RelayIntegrationTest::SetUp();
    slot_ = "it_poison_" + suffix_;
    CreateDatabase();
    db_->DropSlotAtEnd(slot_);
    conn_ = std::make_unique<PgConnection>(db_->Connect());
    conn_->Exec(
        "CREATE TABLE outbox.text_events (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), aggregatetype text NOT NULL, "
        "aggregateid text NOT NULL, type text NOT NULL, payload text, headers jsonb);"
        "CREATE TABLE outbox.legacy (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), aggregatetype text, "
        "aggregateid text, type text, payload jsonb);"
        "CREATE PUBLICATION poison FOR TABLE outbox.outbox, outbox.text_events, outbox.legacy WITH (publish = 'insert')");
    // max.message.bytes kTopicLimit: the broker refuses what librdkafka lets through.
    KafkaAdmin({{"bootstrap.servers", Harness().kafka_bootstrap_servers}})
        .CreateTopic(Topic("Limited"), 1, {{"max.message.bytes", kTopicLimit}});
  }

  std::string Topic(const std::string& aggregate_type) const { return "it." + aggregate_type + "." + suffix_; }
  std::string DeadLetterTopic() const { return "it.dlq." + suffix_; }

  std::string Config(const std::string& on_poison, const std::string& delivery) const {
    return "source:\n  dsn: \"" + db_->RelayDsn() + "\"\n  slot: " + slot_ +
           "\n  publication: poison\noutbox:\n  tables: [outbox.outbox, outbox.text_events, outbox.legacy]\n"
           "  topic: \"it.{aggregate_type}." + suffix_ +
           "\"\n  routes:\n    - source: table:outbox.text_events\n      format: envelope\n"
           "    - source: table:outbox.legacy\n      key: order_id\n"
           "sink:\n  type: kafka\nkafka:\n  bootstrap.servers: \"" + Harness().kafka_bootstrap_servers +
           "\"\n  message.max.bytes: " + kProducerLimit + "\non_poison: " + on_poison + "\ndead_letter:\n  topic: " +
           DeadLetterTopic() + "\ndelivery: " + delivery + "\nexactly_once:\n  checkpoint_topic: it.ckpt." + suffix_ +
           "\nhttp:\n  listen: \"127.0.0.1:0\"\nlog:\n  level: info\n";
  }

  // `wait`: until the relay holds its slot (one stopping at a poison row at once may not be seen holding it).
  RelayProcess& StartRelay(const std::string& on_poison, const std::string& delivery, const std::string& label,
                           bool wait = true) {
    RelayProcess& relay = NewRelay(WriteConfig(label + ".yaml", Config(on_poison, delivery)), label);
    relay.Start();
    if (!wait) return relay;
    // The slot is active already while CREATE_REPLICATION_SLOT waits for other databases'
    // transactions; a row committed then is before the slot's start. Streaming means after.
    const auto deadline = Clock::now() + 60s;
    while (ReadFile(relay.StderrPath()).find("streaming from slot") == std::string::npos && Clock::now() < deadline) {
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(db_->WaitForSlot(slot_, true, 1s)) << "the relay does not stream from its slot";
    return relay;
  }

  void PublishGood(int seq) {
    conn_->Exec("SELECT outbox.publish('Good', 'g', 'Seq', jsonb_build_object('seq', " + std::to_string(seq) + "))");
  }

  // One transaction: a good row, the poison row, a good row.
  PoisonWrite WriteAround(Kind kind, int& seq) {
    conn_->Exec("BEGIN");
    PublishGood(++seq);
    PoisonWrite write{kind, conn_->Exec(PoisonSql(kind)).Text(0, 0), 0, 0};
    PublishGood(++seq);
    write.before_commit = InsertLsn(*conn_);
    conn_->Exec("COMMIT");
    write.after_commit = InsertLsn(*conn_);
    return write;
  }

  // Reads `topic` until it holds at least `count` records (bounded), then returns them all.
  static std::vector<KafkaRecord> ReadAtLeast(const std::string& topic, std::size_t count) {
    KafkaReader reader(Harness().kafka_bootstrap_servers, {topic});
    const auto deadline = Clock::now() + 90s;
    while (reader.Records().size() < count && Clock::now() < deadline) {
      reader.CatchUp(30s);
      if (reader.Records().size() < count) std::this_thread::sleep_for(200ms);
    }
    return reader.Records();
  }

  // The sequence numbers of the good rows, in the order Kafka holds them (one key, one partition).
  std::vector<int> GoodSequence(std::size_t count) const {
    std::vector<int> sequence;
    for (const auto& record : ReadAtLeast(Topic("Good"), count)) {
      sequence.push_back(nlohmann::json::parse(record.value.value_or("{}")).value("seq", -1));
    }
    return sequence;
  }

  std::string slot_;
  std::unique_ptr<PgConnection> conn_;
};

std::vector<int> OneTo(int count) {
  std::vector<int> sequence;
  for (int i = 1; i <= count; ++i) sequence.push_back(i);
  return sequence;
}

// ---- on_poison: fail ------------------------------------------------------------------------------

class PoisonFailTest : public PoisonTest, public ::testing::WithParamInterface<std::tuple<Kind, std::string>> {};

// The relay stops with exit code 1 and one error line naming table, row id, commit LSN and
// reason; the slot stays before the poison row's commit, the good row of the transaction before
// arrived, and a restart stops at the same row again.
TEST_P(PoisonFailTest, StopsWithoutConfirmingAndStopsAgainOnRestart) {
  const auto [kind, delivery] = GetParam();
  int seq = 0;
  RelayProcess& relay = StartRelay("fail", delivery, "relay");
  PublishGood(++seq);
  ASSERT_EQ(GoodSequence(1), OneTo(1)) << "the relay does not publish good rows";
  const PoisonWrite poison = WriteAround(kind, seq);

  std::optional<std::uint64_t> commit_lsn;
  std::string first_line;
  for (int attempt = 0; attempt < 2; ++attempt) {
    RelayProcess* run = attempt == 0 ? &relay : &StartRelay("fail", delivery, "restarted", false);
    const auto exit = run->WaitFor(90s);
    ASSERT_TRUE(exit.has_value()) << "the relay kept running after a poison row under on_poison: fail";
    EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
    const std::string log = ReadFile(run->StderrPath());
    const std::regex pattern("poison row: table " + std::regex_replace(TableOf(kind), std::regex("\\."), "\\.") +
                             ", id " + poison.id + ", commit LSN ([0-9A-F]+/[0-9A-F]+), reason " + ReasonOf(kind) +
                             ": [^\n]*on_poison: dead-letter[^\n]*");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(log, match, pattern)) << log;
    std::cout << "[ info ] " << run->StderrPath() << ": " << match.str(0).substr(0, 300) << "\n";
    if (first_line.empty()) {
      first_line = match.str(0);
      commit_lsn = ParseLsnText(match.str(1));
    } else {
      EXPECT_EQ(match.str(0), first_line) << "a restart stops at the same row, for the same reason";
    }
    ASSERT_TRUE(commit_lsn.has_value());
    EXPECT_GE(*commit_lsn, poison.before_commit);
    EXPECT_LT(*commit_lsn, poison.after_commit);

    ASSERT_TRUE(db_->WaitForSlot(slot_, false, 30s));
    const auto slot = db_->Slot(slot_);
    ASSERT_TRUE(slot && slot->confirmed_flush_lsn);
    std::cout << "[ info ] confirmed_flush_lsn " << FormatLsn(*slot->confirmed_flush_lsn) << ", poison commit "
              << FormatLsn(*commit_lsn) << "\n";
    EXPECT_LT(*slot->confirmed_flush_lsn, *commit_lsn) << "the poison row's transaction was confirmed";
  }
  KafkaReader dead_letters(Harness().kafka_bootstrap_servers, {DeadLetterTopic()});
  dead_letters.CatchUp(30s);
  EXPECT_TRUE(dead_letters.Records().empty()) << "on_poison: fail wrote to the dead-letter topic";
}

INSTANTIATE_TEST_SUITE_P(
    AtLeastOnce, PoisonFailTest,
    ::testing::Combine(::testing::ValuesIn(kAllKinds), ::testing::Values(std::string("at-least-once"))),
    [](const auto& info) { return KindName(std::get<0>(info.param)); });

// In exactly-once mode a broker refusal makes the Kafka transaction abortable; under fail the
// relay must stop rather than abort and retry the same row forever. Likewise for the others.
INSTANTIATE_TEST_SUITE_P(
    ExactlyOnce, PoisonFailTest,
    ::testing::Combine(::testing::Values(Kind::kOverTopicLimit, Kind::kOverProducerLimit, Kind::kMissingKey),
                       ::testing::Values(std::string("exactly-once"))),
    [](const auto& info) { return KindName(std::get<0>(info.param)); });

// ---- on_poison: dead-letter -----------------------------------------------------------------------

class PoisonDeadLetterTest : public PoisonTest, public ::testing::WithParamInterface<std::string> {};

// Every kind, each inside a transaction between two good rows: each poison row is in the
// dead-letter topic once, with its key, its value when it fits, and headers naming reason,
// commit LSN, table, original topic and id; the good rows all arrive, in order; the metric
// counts each reason; one warn line per row; the slot is confirmed past the last poison row.
TEST_P(PoisonDeadLetterTest, WritesEachPoisonRowToTheDeadLetterTopicAndGoesOn) {
  const std::string& delivery = GetParam();
  RelayProcess& relay = StartRelay("dead-letter", delivery, "relay");
  const int http_port = WaitForHttpPort(relay, 60s);
  int seq = 0;
  std::vector<PoisonWrite> writes;
  for (const Kind kind : kAllKinds) writes.push_back(WriteAround(kind, seq));
  PublishGood(++seq);

  EXPECT_EQ(GoodSequence(static_cast<std::size_t>(seq)), OneTo(seq)) << "good rows lost, repeated or reordered";
  const std::vector<KafkaRecord> dead_letters = ReadAtLeast(DeadLetterTopic(), writes.size());
  EXPECT_EQ(dead_letters.size(), writes.size()) << "each poison row once in the dead-letter topic";
  std::uint64_t last_commit = 0;
  for (const PoisonWrite& write : writes) {
    SCOPED_TRACE(KindName(write.kind));
    const KafkaRecord* found = nullptr;
    for (const auto& record : dead_letters) {
      if (record.Header("__outbox_relay.errors.id") == write.id) found = &record;
    }
    ASSERT_NE(found, nullptr) << "poison row " << write.id << " is not in the dead-letter topic";
    const KafkaRecord& record = *found;
    EXPECT_EQ(record.Header("__outbox_relay.errors.reason"), ReasonOf(write.kind));
    EXPECT_EQ(record.Header("__outbox_relay.errors.source"), "table:" + TableOf(write.kind));
    EXPECT_FALSE(record.Header("__outbox_relay.errors.message").value_or("").empty());
    const auto commit = ParseLsnText(record.Header("__outbox_relay.errors.commit_lsn").value_or(""));
    ASSERT_TRUE(commit.has_value());
    EXPECT_GE(*commit, write.before_commit);
    EXPECT_LT(*commit, write.after_commit);
    last_commit = std::max(last_commit, *commit);

    std::optional<std::string> key;
    std::optional<std::string> value;
    std::string topic;
    switch (write.kind) {
      case Kind::kInvalidJson:
        key = "key-json";
        value = "{not json";
        topic = Topic("Text");
        break;
      case Kind::kMissingKey:
        value = "{\"poison\": 1}";
        break;
      case Kind::kMissingColumn:
        value = "{\"poison\": 2}";
        break;
      case Kind::kInvalidTopic:
        key = "key-topic";
        value = "{\"poison\": 3}";
        topic = "it.Bad Type." + suffix_;
        break;
      case Kind::kOverProducerLimit:  // the value does not fit the producer's limit either
        key = "key-big";
        topic = Topic("Big");
        break;
      case Kind::kOverTopicLimit:  // it fits the dead-letter topic
        key = "key-limited";
        value = PadPayload(kOverTopicLimitPad);
        topic = Topic("Limited");
        break;
    }
    EXPECT_EQ(record.key, key);
    EXPECT_EQ(record.value, value);
    EXPECT_EQ(record.Header("__outbox_relay.errors.topic"), topic);
    if (write.kind == Kind::kOverProducerLimit || write.kind == Kind::kOverTopicLimit) {
      // The refused record's own headers come first.
      EXPECT_EQ(record.Header("id"), write.id);
      EXPECT_EQ(record.Header("commit_lsn"), record.Header("__outbox_relay.errors.commit_lsn"));
    }
    std::cout << "[ info ] dead letter " << ReasonOf(write.kind) << ": key " << record.key.value_or("<none>")
              << ", value " << (record.value ? std::to_string(record.value->size()) + " bytes" : "<none>") << ", topic \""
              << record.Header("__outbox_relay.errors.topic").value_or("") << "\", commit LSN " << FormatLsn(*commit)
              << "\n";
    const std::string line = "dead-lettering poison row: table " + TableOf(write.kind) + ", id " + write.id +
                             ", commit LSN " + FormatLsn(*commit) + ", reason " + ReasonOf(write.kind) + ": ";
    EXPECT_NE(ReadFile(relay.StderrPath()).find(line), std::string::npos) << line;
  }

  const std::string log = ReadFile(relay.StderrPath());
  // A refusal ends the Kafka transaction either at its commit or at its next record.
  std::size_t aborted = 0;
  for (const char* cause : {"Kafka transaction aborted", "a record of the open Kafka transaction failed"}) {
    for (auto at = log.find(cause); at != std::string::npos; at = log.find(cause, at + 1)) ++aborted;
  }
  std::cout << "[ info ] " << delivery << ": " << seq << " good rows in order, " << dead_letters.size()
            << " dead letters, " << aborted << " Kafka transactions aborted and re-read\n";
  if (delivery == "exactly-once") {
    EXPECT_GE(aborted, 1u) << "the broker's refusal did not go through an abort";
  }

  // The metric, by reason (exactly-once counts at the Kafka commit, so wait for it).
  const std::map<std::string, double> expected = {{"invalid_json", 1},   {"missing_key", 1},      {"missing_column", 1},
                                                  {"invalid_topic", 1},  {"record_too_large", 2}, {"invalid_headers", 0},
                                                  {"invalid_message", 0}, {"missing_field", 0}};
  std::map<std::string, double> seen;
  for (const auto deadline = Clock::now() + 30s; Clock::now() < deadline; std::this_thread::sleep_for(200ms)) {
    const std::string body = HttpGet(kLoopback, http_port, "/metrics").body;
    for (const auto& [reason, count] : expected) {
      seen[reason] = MetricSample(body, "outbox_relay_dead_lettered_total{reason=\"" + reason + "\"}").value_or(-1);
    }
    if (seen == expected) break;
  }
  EXPECT_EQ(seen, expected);

  // Counted as done only once Kafka has its dead-letter record: the slot moves past them all.
  bool confirmed = false;
  for (const auto deadline = Clock::now() + 60s; !confirmed && Clock::now() < deadline;
       std::this_thread::sleep_for(200ms)) {
    const auto slot = db_->Slot(slot_);
    confirmed = slot && slot->confirmed_flush_lsn && *slot->confirmed_flush_lsn > last_commit;
  }
  EXPECT_TRUE(confirmed) << "the slot was not confirmed past " << FormatLsn(last_commit);
  EXPECT_TRUE(relay.Running()) << relay.StderrTail(20);
}

INSTANTIATE_TEST_SUITE_P(Delivery, PoisonDeadLetterTest, ::testing::Values("at-least-once", "exactly-once"),
                         [](const auto& info) { return info.param == "exactly-once" ? "ExactlyOnce" : "AtLeastOnce"; });

}  // namespace
}  // namespace outbox_relay::it
