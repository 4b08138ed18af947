#include "relay/pipeline/transaction_assembler.hpp"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "outbox/event_mapper.hpp"
#include "relay/pg/pgoutput.hpp"
#include "tests/unit/support/byte_builder.hpp"
#include "tests/unit/support/lsn_printer.hpp"

namespace outbox_relay::pipeline {

namespace {

using ::outbox_relay::test::ByteBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::Pair;

using Step = TransactionAssembler::Step;
using BeginStep = TransactionAssembler::BeginStep;
using EventStep = TransactionAssembler::EventStep;
using CommitStep = TransactionAssembler::CommitStep;

constexpr std::uint32_t kOutboxOid = 16'400;
constexpr std::uint32_t kOtherOid = 16'500;
constexpr std::uint32_t kTextOid = 25;
constexpr std::uint64_t kFinalLsn = 0x0000'0016'B374'D848;
constexpr std::uint64_t kEndLsn = 0x0000'0016'B374'D880;
constexpr std::string_view kFinalLsnText = "16/B374D848";
constexpr std::int64_t kCommitTime = 757'382'400'123'456;  // 2024-01-01 00:00:00.123456 UTC

// One tuple value as pgoutput sends it: 't' text, 'n' NULL or 'u' unchanged TOAST.
struct Cell {
  char kind = 't';
  std::string text;
};

Cell Text(std::string text) { return {'t', std::move(text)}; }
const Cell kNull{'n', {}};
const Cell kUnchangedToast{'u', {}};

// ---- pgoutput encodings ----------------------------------------------------------------------------

std::string BeginBytes(std::uint64_t final_lsn = kFinalLsn) {
  return ByteBuilder{}.Put8('B').Put64(final_lsn).Put64(kCommitTime).Put32(731).Build();
}

std::string CommitBytes(std::uint64_t commit_lsn = kFinalLsn, std::uint64_t end_lsn = kEndLsn) {
  return ByteBuilder{}.Put8('C').Put8(0).Put64(commit_lsn).Put64(end_lsn).Put64(kCommitTime).Build();
}

std::string RelationBytes(std::uint32_t oid, std::string_view schema, std::string_view name,
                          const std::vector<std::string>& columns, std::uint32_t payload_type = kTextOid) {
  ByteBuilder builder;
  builder.Put8('R').Put32(oid).PutString(schema).PutString(name).Put8('d');
  builder.Put16(static_cast<std::uint16_t>(columns.size()));
  for (const std::string& column : columns) {
    builder.Put8(column == "id" ? 1 : 0).PutString(column).Put32(column == "payload" ? payload_type : kTextOid);
    builder.Put32(0xFFFF'FFFF);
  }
  return builder.Build();
}

std::string InsertBytes(std::uint32_t oid, const std::vector<Cell>& cells) {
  ByteBuilder builder;
  builder.Put8('I').Put32(oid).Put8('N').Put16(static_cast<std::uint16_t>(cells.size()));
  for (const Cell& cell : cells) {
    builder.Put8(static_cast<std::uint8_t>(cell.kind));
    if (cell.kind == 't') {
      builder.Put32(static_cast<std::uint32_t>(cell.text.size())).PutBytes(cell.text);
    }
  }
  return builder.Build();
}

// The outbox table as the migration creates it, Debezium's column names.
std::vector<std::string> OutboxColumns() {
  return {"id", "aggregatetype", "aggregateid", "type", "payload", "headers", "created_at"};
}

std::string OutboxRelationBytes(std::uint32_t payload_type = kTextOid) {
  return RelationBytes(kOutboxOid, "outbox", "outbox", OutboxColumns(), payload_type);
}

// A publishable row in OutboxColumns() order.
std::vector<Cell> OutboxRow() {
  return {Text("7"),
          Text("Order"),
          Text("order-1"),
          Text("OrderCreated"),
          Text(R"({"total": 12})"),
          Text(R"({"a": "x", "n": 5})"),
          Text("2024-01-01 00:00:00.123456+00")};
}

// ---- Helpers -----------------------------------------------------------------------------------

// Decodes and applies one message; the decoded views only live as long as `bytes`.
Step Feed(TransactionAssembler& assembler, const std::string& bytes) {
  return assembler.Apply(pg::DecodePgOutput(bytes));
}

outbox::OutboxEvent EventOf(const Step& step) {
  const auto* event = std::get_if<EventStep>(&step);
  if (event == nullptr) {
    ADD_FAILURE() << "expected an EventStep, got step alternative " << step.index();
    return {};
  }
  return event->event;
}

// Relation and Begin, so the next outbox insert is inside a transaction.
void StartOutboxTransaction(TransactionAssembler& assembler, std::uint64_t final_lsn = kFinalLsn) {
  Feed(assembler, OutboxRelationBytes());
  Feed(assembler, BeginBytes(final_lsn));
}

template <typename Error>
std::string ErrorOf(TransactionAssembler& assembler, const std::string& bytes) {
  try {
    Feed(assembler, bytes);
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "message applied without the expected error";
  return {};
}

// ---- Transaction boundaries ----------------------------------------------------------------------

// Begin starts a transaction at the LSN of its commit record.
TEST(TransactionAssemblerTest, BeginGivesCommitLsn) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  const Step step = Feed(assembler, BeginBytes());
  const auto* begin = std::get_if<BeginStep>(&step);
  ASSERT_NE(begin, nullptr);
  EXPECT_EQ(begin->commit_lsn, Lsn(kFinalLsn));
  EXPECT_EQ(begin->commit_time, kCommitTime);
}

// Commit ends the transaction at the end of its commit record, the position to confirm.
TEST(TransactionAssemblerTest, CommitGivesEndLsn) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  Feed(assembler, BeginBytes());
  const Step step = Feed(assembler, CommitBytes());
  const auto* commit = std::get_if<CommitStep>(&step);
  ASSERT_NE(commit, nullptr);
  EXPECT_EQ(commit->end_lsn, Lsn(kEndLsn));
  EXPECT_EQ(commit->commit_time, kCommitTime);
}

// ---- Outbox inserts ------------------------------------------------------------------------------

// A Relation message only fills the cache; it is no step of its own.
TEST(TransactionAssemblerTest, RelationGivesNoStep) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, OutboxRelationBytes())));
}

// An insert into the outbox table becomes an event with every field, topic and commit LSN.
TEST(TransactionAssemblerTest, OutboxInsertGivesEvent) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  const outbox::OutboxEvent event = EventOf(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow())));
  EXPECT_EQ(event.id, "7");
  EXPECT_EQ(event.aggregate_type, "Order");
  EXPECT_EQ(event.aggregate_id, "order-1");
  EXPECT_EQ(event.type, "OrderCreated");
  EXPECT_THAT(event.payload, Optional(std::string(R"({"total": 12})")));
  EXPECT_THAT(event.headers, ElementsAre(Pair("a", "x"), Pair("n", "5")));
  EXPECT_EQ(event.topic, "outbox.event.Order");
  EXPECT_EQ(event.commit_lsn, kFinalLsnText);
}

// Each event carries its own transaction's commit LSN, not an earlier one's.
TEST(TransactionAssemblerTest, EventsCarryTheirTransactionsCommitLsn) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler, 0x1'0000'00A0);
  EXPECT_EQ(EventOf(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow()))).commit_lsn, "1/A0");
  Feed(assembler, CommitBytes(0x1'0000'00A0, 0x1'0000'00D0));
  Feed(assembler, BeginBytes(0x2'0000'0010));
  EXPECT_EQ(EventOf(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow()))).commit_lsn, "2/10");
}

// Without payload and headers columns, events have neither.
TEST(TransactionAssemblerTest, TableWithoutOptionalColumnsGivesBareEvents) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  Feed(assembler, RelationBytes(kOutboxOid, "outbox", "outbox", {"id", "aggregatetype", "aggregateid", "type"}));
  Feed(assembler, BeginBytes());
  const outbox::OutboxEvent event =
      EventOf(Feed(assembler, InsertBytes(kOutboxOid, {Text("1"), Text("Order"), Text("o"), Text("T")})));
  EXPECT_EQ(event.payload, std::nullopt);
  EXPECT_THAT(event.headers, IsEmpty());
}

// Inserts into any other table, including one named outbox in another schema, are skipped.
TEST(TransactionAssemblerTest, InsertIntoOtherTableGivesNoStep) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  Feed(assembler, RelationBytes(kOtherOid, "public", "outbox", OutboxColumns()));
  Feed(assembler, BeginBytes());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, InsertBytes(kOtherOid, OutboxRow()))));
}

// Only the outbox table's shape is checked; other tables may look like anything.
TEST(TransactionAssemblerTest, OtherTablesShapeIsNotChecked) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  EXPECT_NO_THROW(Feed(assembler, RelationBytes(kOtherOid, "public", "orders", {"order_id"})));
  Feed(assembler, BeginBytes());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, InsertBytes(kOtherOid, {kUnchangedToast}))));
}

// Configured column names and table are used instead of the defaults.
TEST(TransactionAssemblerTest, UsesConfiguredTableAndColumns) {
  config::OutboxConfig config;
  config.tables = {{"billing", "events"}};
  config.columns.id = "event_id";
  config.columns.aggregate_type = "kind";
  config.columns.aggregate_id = "key";
  config.columns.type = "event_type";
  config.columns.payload = "body";
  config.columns.headers = "meta";
  config.topic = "{aggregate_type}.{type}";
  TransactionAssembler assembler(config);
  Feed(assembler, OutboxRelationBytes());  // the default table is now just another table
  Feed(assembler,
       RelationBytes(kOtherOid, "billing", "events", {"meta", "key", "event_id", "body", "event_type", "kind"}));
  Feed(assembler, BeginBytes());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow()))));
  const outbox::OutboxEvent event =
      EventOf(Feed(assembler, InsertBytes(kOtherOid, {Text(R"({"h": "v"})"), Text("inv-9"), Text("42"), Text("{}"),
                                                      Text("Paid"), Text("Invoice")})));
  EXPECT_EQ(event.id, "42");
  EXPECT_EQ(event.aggregate_type, "Invoice");
  EXPECT_EQ(event.aggregate_id, "inv-9");
  EXPECT_EQ(event.type, "Paid");
  EXPECT_THAT(event.payload, Optional(std::string("{}")));
  EXPECT_THAT(event.headers, ElementsAre(Pair("h", "v")));
  EXPECT_EQ(event.topic, "Invoice.Paid");
}

// A Relation re-sent after ALTER TABLE replaces the cached layout.
TEST(TransactionAssemblerTest, ResentRelationReplacesLayout) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  Feed(assembler,
       RelationBytes(kOutboxOid, "outbox", "outbox", {"tenant", "type", "aggregateid", "aggregatetype", "id"}));
  const outbox::OutboxEvent event = EventOf(Feed(
      assembler, InsertBytes(kOutboxOid, {Text("t1"), Text("Shipped"), Text("o-2"), Text("Order"), Text("8")})));
  EXPECT_EQ(event.id, "8");
  EXPECT_EQ(event.type, "Shipped");
  EXPECT_EQ(event.aggregate_id, "o-2");
  EXPECT_EQ(event.payload, std::nullopt);
}

// ---- Errors --------------------------------------------------------------------------------------

// The poison row a message turns into; fails the test if it gives none.
outbox::PoisonRow PoisonOf(TransactionAssembler& assembler, const std::string& bytes) {
  try {
    Feed(assembler, bytes);
  } catch (const PoisonEventError& error) {
    return error.row();
  }
  ADD_FAILURE() << "message applied without a PoisonEventError";
  return {};
}

// An outbox relation without a configured column is accepted, and every row of it is poison
// (missing_column) naming the outbox.columns key to fix, the row's id and the commit LSN; the
// transaction goes on.
TEST(TransactionAssemblerTest, MissingConfiguredColumnMakesEachRowPoison) {
  config::OutboxConfig config;
  config.columns.type = "event_type";
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  const outbox::PoisonRow poison = PoisonOf(assembler, InsertBytes(kOutboxOid, OutboxRow()));
  EXPECT_EQ(poison.reason, outbox::PoisonReason::kMissingColumn);
  EXPECT_THAT(poison.detail, HasSubstr("\"event_type\""));
  EXPECT_THAT(poison.detail, HasSubstr("outbox.columns.type"));
  EXPECT_EQ(poison.id, "7");
  EXPECT_EQ(poison.commit_lsn, kFinalLsnText);
  EXPECT_EQ(poison.source, "table:outbox.outbox");
  EXPECT_EQ(poison.value, std::optional<std::string>(R"({"total": 12})"));
  EXPECT_EQ(PoisonOf(assembler, InsertBytes(kOutboxOid, OutboxRow())).reason,
            outbox::PoisonReason::kMissingColumn);
  EXPECT_TRUE(std::holds_alternative<CommitStep>(Feed(assembler, CommitBytes())));
}

// A routing rule's key column absent from a table it applies to is a missing column too.
TEST(TransactionAssemblerTest, MissingRuleKeyColumnIsMissingColumn) {
  config::OutboxConfig config;
  config.routes = {{"table:outbox.outbox", "", "", "", "order_id", std::nullopt, ""}};
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  const outbox::PoisonRow poison = PoisonOf(assembler, InsertBytes(kOutboxOid, OutboxRow()));
  EXPECT_EQ(poison.reason, outbox::PoisonReason::kMissingColumn);
  EXPECT_THAT(poison.detail, HasSubstr("outbox.routes[0].key"));
}

// A text payload column is checked for JSON where the format embeds it; a jsonb one is trusted.
TEST(TransactionAssemblerTest, TextPayloadIsCheckedForJsonFormats) {
  config::OutboxConfig config;
  config.format = config::EventFormat::kEnvelope;
  std::vector<Cell> row = OutboxRow();
  row[4] = Text("{not json");
  TransactionAssembler text_assembler(config);
  Feed(text_assembler, OutboxRelationBytes());  // every column typed text
  Feed(text_assembler, BeginBytes());
  EXPECT_EQ(PoisonOf(text_assembler, InsertBytes(kOutboxOid, row)).reason, outbox::PoisonReason::kInvalidJson);

  // The same columns with payload typed jsonb: PostgreSQL only sends valid JSON.
  constexpr std::uint32_t kJsonbOid = 3802;
  TransactionAssembler jsonb_assembler(config);
  Feed(jsonb_assembler, OutboxRelationBytes(kJsonbOid));
  Feed(jsonb_assembler, BeginBytes());
  EXPECT_EQ(EventOf(Feed(jsonb_assembler, InsertBytes(kOutboxOid, row))).payload,
            std::optional<std::string>("{not json"));
}

// An insert for a relation the server never described is a broken stream.
TEST(TransactionAssemblerTest, InsertBeforeRelationIsDecodeError) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  Feed(assembler, BeginBytes());
  EXPECT_THAT(ErrorOf<pg::DecodeError>(assembler, InsertBytes(kOutboxOid, OutboxRow())),
              HasSubstr("relation 16400 before its Relation message"));
}

// Inserts never omit values, so unchanged TOAST in an outbox row is a broken stream.
TEST(TransactionAssemblerTest, UnchangedToastInOutboxInsertIsDecodeError) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  std::vector<Cell> row = OutboxRow();
  row[4] = kUnchangedToast;
  const std::string error = ErrorOf<pg::DecodeError>(assembler, InsertBytes(kOutboxOid, row));
  EXPECT_THAT(error, HasSubstr("outbox.outbox"));
  EXPECT_THAT(error, HasSubstr("column 4 sent as unchanged TOAST"));
}

// An insert with more or fewer values than the relation has columns is a broken stream.
TEST(TransactionAssemblerTest, ValueCountMismatchIsDecodeError) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  std::vector<Cell> row = OutboxRow();
  row.pop_back();
  EXPECT_THAT(ErrorOf<pg::DecodeError>(assembler, InsertBytes(kOutboxOid, row)),
              HasSubstr("6 values for 7 columns"));
}

// A row with a NULL aggregate id is poison; the message says where to find it.
TEST(TransactionAssemblerTest, NullAggregateIdIsPoisonEvent) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  std::vector<Cell> row = OutboxRow();
  row[2] = kNull;
  const std::string error = ErrorOf<PoisonEventError>(assembler, InsertBytes(kOutboxOid, row));
  EXPECT_THAT(error, HasSubstr("outbox.outbox"));
  EXPECT_THAT(error, HasSubstr("id 7"));
  EXPECT_THAT(error, HasSubstr(std::string(kFinalLsnText)));
  EXPECT_THAT(error, HasSubstr("aggregate id is NULL"));
}

// A poison row without an id still gets a message, saying NULL.
TEST(TransactionAssemblerTest, PoisonRowWithoutIdSaysNull) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  std::vector<Cell> row = OutboxRow();
  row[0] = kNull;
  EXPECT_THAT(ErrorOf<PoisonEventError>(assembler, InsertBytes(kOutboxOid, row)),
              HasSubstr("table outbox.outbox, id NULL, commit LSN 16/B374D848, reason missing_field"));
}

// An aggregate type that makes an illegal topic is poison too.
TEST(TransactionAssemblerTest, IllegalTopicIsPoisonEvent) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  std::vector<Cell> row = OutboxRow();
  row[1] = Text("Order Line");
  EXPECT_THAT(ErrorOf<PoisonEventError>(assembler, InsertBytes(kOutboxOid, row)),
              HasSubstr("not a legal Kafka topic name"));
}

// ---- Everything else -----------------------------------------------------------------------------

// Update, Delete, Truncate, logical messages, Origin and Type carry nothing to relay.
TEST(TransactionAssemblerTest, NonInsertMessagesGiveNoStep) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  const std::vector<std::string> messages = {
      ByteBuilder{}.Put8('U').Put32(kOutboxOid).Put8('N').Put16(0).Build(),
      ByteBuilder{}.Put8('D').Put32(kOutboxOid).Put8('K').Put16(0).Build(),
      ByteBuilder{}.Put8('T').Put32(1).Put8(0).Put32(kOutboxOid).Build(),
      ByteBuilder{}.Put8('M').Put8(1).Put64(kFinalLsn).PutString("outbox").Put32(2).PutBytes("{}").Build(),
      ByteBuilder{}.Put8('O').Put64(kFinalLsn).PutString("pg_1").Build(),
      ByteBuilder{}.Put8('Y').Put32(16'401).PutString("public").PutString("mood").Build(),
  };
  for (const std::string& bytes : messages) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, bytes))) << "message tag " << bytes.front();
  }
}

// Reset forgets every relation, so inserts need the server's fresh Relation messages.
TEST(TransactionAssemblerTest, ResetForgetsRelations) {
  const config::OutboxConfig config;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  assembler.Reset();
  Feed(assembler, BeginBytes());
  EXPECT_THAT(ErrorOf<pg::DecodeError>(assembler, InsertBytes(kOutboxOid, OutboxRow())),
              HasSubstr("before its Relation message"));
  Feed(assembler, OutboxRelationBytes());
  EXPECT_EQ(EventOf(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow()))).id, "7");
}

// ---- Several tables and logical messages --------------------------------------------------------

// publish_message()'s content for OutboxRow(): every field a JSON string, payload and headers
// as the jsonb's text.
constexpr std::string_view kMessageContent =
    R"({"id": "7", "aggregatetype": "Order", "aggregateid": "order-1", "type": "OrderCreated", )"
    R"("payload": "{\"total\": 12}", "headers": "{\"a\": \"x\", \"n\": 5}"})";

std::string MessageBytes(std::string_view prefix, std::string_view content, bool transactional = true) {
  return ByteBuilder{}
      .Put8('M')
      .Put8(transactional ? 1 : 0)
      .Put64(kFinalLsn)
      .PutString(prefix)
      .Put32(static_cast<std::uint32_t>(content.size()))
      .PutBytes(content)
      .Build();
}

config::OutboxConfig CapturingBoth() {
  config::OutboxConfig config;
  config.capture = config::CaptureMode::kBoth;
  return config;
}

// A message and a row with the same values give the same event but for where it came from.
TEST(TransactionAssemblerMessagesTest, MessageGivesSameEventAsRow) {
  const config::OutboxConfig config = CapturingBoth();
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  const outbox::OutboxEvent row = EventOf(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow())));
  const outbox::OutboxEvent message = EventOf(Feed(assembler, MessageBytes("outbox", kMessageContent)));
  EXPECT_EQ(row.source, "table:outbox.outbox");
  EXPECT_EQ(message.source, "message:outbox");
  EXPECT_EQ(message.id, row.id);
  EXPECT_EQ(message.aggregate_type, row.aggregate_type);
  EXPECT_EQ(message.aggregate_id, row.aggregate_id);
  EXPECT_EQ(message.key, row.key);
  EXPECT_EQ(message.type, row.type);
  EXPECT_EQ(message.payload, row.payload);
  EXPECT_EQ(message.headers, row.headers);
  EXPECT_EQ(message.topic, row.topic);
  EXPECT_EQ(message.commit_lsn, row.commit_lsn);
  EXPECT_EQ(message.time, "2024-01-01T00:00:00.123456Z");
  EXPECT_EQ(message.time, row.time);
}

// Other prefixes (the heartbeat's among them) and a table-only relay leave messages alone.
TEST(TransactionAssemblerMessagesTest, UncapturedMessagesGiveNoStep) {
  const config::OutboxConfig both = CapturingBoth();
  TransactionAssembler assembler(both);
  Feed(assembler, BeginBytes());
  for (std::string_view prefix : {std::string_view("billing"), config::kHeartbeatMessagePrefix}) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, MessageBytes(prefix, "x"))));
  }
  const config::OutboxConfig tables_only;
  TransactionAssembler table_assembler(tables_only);
  Feed(table_assembler, BeginBytes());
  EXPECT_TRUE(
      std::holds_alternative<std::monostate>(Feed(table_assembler, MessageBytes("outbox", kMessageContent))));
}

// A messages-only relay ignores inserts into the outbox table.
TEST(TransactionAssemblerMessagesTest, MessagesOnlyIgnoresTables) {
  config::OutboxConfig config;
  config.capture = config::CaptureMode::kMessages;
  TransactionAssembler assembler(config);
  StartOutboxTransaction(assembler);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow()))));
  EXPECT_EQ(EventOf(Feed(assembler, MessageBytes("outbox", kMessageContent))).id, "7");
}

// A message the relay cannot turn into an event is poison, named by prefix and LSN.
TEST(TransactionAssemblerMessagesTest, BadMessagesArePoison) {
  const config::OutboxConfig config = CapturingBoth();
  TransactionAssembler assembler(config);
  Feed(assembler, BeginBytes());
  const std::string not_json = ErrorOf<PoisonEventError>(assembler, MessageBytes("outbox", "{oops"));
  EXPECT_THAT(not_json, HasSubstr("message:outbox, id NULL, commit LSN 16/B374D848, reason invalid_message"));
  EXPECT_THAT(not_json, HasSubstr("not a JSON object"));
  EXPECT_EQ(PoisonOf(assembler, MessageBytes("outbox", "{oops")).value, std::optional<std::string>("{oops"));
  EXPECT_EQ(PoisonOf(assembler, MessageBytes("outbox", R"({"id": "9", "aggregatetype": "A", "type": "T"})")).id,
            "9");
  EXPECT_THAT(ErrorOf<PoisonEventError>(assembler, MessageBytes("outbox", kMessageContent, false)),
              HasSubstr("not transactional"));
  EXPECT_THAT(ErrorOf<PoisonEventError>(
                  assembler, MessageBytes("outbox", R"({"id": "1", "aggregatetype": "A", "type": "T"})")),
              HasSubstr("no column \"aggregateid\""));
  EXPECT_THAT(
      ErrorOf<PoisonEventError>(
          assembler,
          MessageBytes("outbox", R"({"id": "1", "aggregatetype": "A", "aggregateid": null, "type": "T"})")),
      HasSubstr("aggregate id is NULL"));
}

// Every configured table is an outbox; each event says which one it came from.
TEST(TransactionAssemblerMessagesTest, SeveralTables) {
  config::OutboxConfig config;
  config.tables = {{"booking", "outbox"}, {"seats", "outbox"}};
  config.topic = "{schema}.events";
  TransactionAssembler assembler(config);
  Feed(assembler, RelationBytes(kOutboxOid, "booking", "outbox", OutboxColumns()));
  Feed(assembler, RelationBytes(kOtherOid, "seats", "outbox", OutboxColumns()));
  Feed(assembler, BeginBytes());
  const outbox::OutboxEvent booking = EventOf(Feed(assembler, InsertBytes(kOutboxOid, OutboxRow())));
  const outbox::OutboxEvent seats = EventOf(Feed(assembler, InsertBytes(kOtherOid, OutboxRow())));
  EXPECT_EQ(booking.topic, "booking.events");
  EXPECT_EQ(booking.source, "table:booking.outbox");
  EXPECT_EQ(seats.topic, "seats.events");
  EXPECT_EQ(seats.source, "table:seats.outbox");
}

// Commit times become RFC 3339 UTC with microseconds, before 2000 as well.
TEST(FormatPgTimestampTest, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(FormatPgTimestamp(0), "2000-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatPgTimestamp(kCommitTime), "2024-01-01T00:00:00.123456Z");
  EXPECT_EQ(FormatPgTimestamp(-1), "1999-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatPgTimestamp(86'400'000'000LL * 60 + 3'723'000'001LL), "2000-03-01T01:02:03.000001Z");
}

}  // namespace
}  // namespace outbox_relay::pipeline
