#include "relay/ops/sql_text.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace outbox_relay::ops::detail {
namespace {

// Plain lower-case names stay bare, so a hint reads like what a DBA would type.
TEST(SqlTextTest, QuoteIdentifierLeavesPlainNamesBare) {
  EXPECT_EQ(QuoteIdentifier("outbox"), "outbox");
  EXPECT_EQ(QuoteIdentifier("_relay_2"), "_relay_2");
}

// Upper case, a leading digit, punctuation, a reserved word or nothing at all need quotes.
TEST(SqlTextTest, QuoteIdentifierQuotesWhatPostgresWouldFold) {
  EXPECT_EQ(QuoteIdentifier("Outbox"), "\"Outbox\"");
  EXPECT_EQ(QuoteIdentifier("2fa"), "\"2fa\"");
  EXPECT_EQ(QuoteIdentifier("my-table"), "\"my-table\"");
  EXPECT_EQ(QuoteIdentifier("user"), "\"user\"");
  EXPECT_EQ(QuoteIdentifier(""), "\"\"");
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
}

// A backslash switches to E'' so the literal means the same whatever standard_conforming_strings says.
TEST(SqlTextTest, QuoteLiteralDoublesQuotesAndBackslashes) {
  EXPECT_EQ(QuoteLiteral("outbox_relay"), "'outbox_relay'");
  EXPECT_EQ(QuoteLiteral("it's"), "'it''s'");
  EXPECT_EQ(QuoteLiteral("a\\b'c"), "E'a\\\\b''c'");
}

// Tables are qualified and listed with ", ".
TEST(SqlTextTest, TableListQualifiesEachTable) {
  const std::vector<config::TableName> tables = {{"outbox", "outbox"}, {"Billing", "events"}};
  EXPECT_EQ(QualifiedTable(tables[1]), "\"Billing\".events");
  EXPECT_EQ(TableList(tables), "outbox.outbox, \"Billing\".events");
  EXPECT_EQ(TableList({}), "");
}

// Every element is quoted, so a comma, brace or the word NULL stays a name.
TEST(SqlTextTest, TextArrayQuotesEveryElement) {
  EXPECT_EQ(TextArray({}), "{}");
  EXPECT_EQ(TextArray({"id", "NULL", "a,b", "q\"\\"}), "{\"id\",\"NULL\",\"a,b\",\"q\\\"\\\\\"}");
}

// The publication publishes inserts only, and names tables only when there are some.
TEST(SqlTextTest, PublicationStatementsNameTheTables) {
  EXPECT_EQ(CreatePublicationSql("outbox_relay", {{"outbox", "outbox"}}),
            "CREATE PUBLICATION outbox_relay FOR TABLE outbox.outbox WITH (publish = 'insert');");
  EXPECT_EQ(CreatePublicationSql("Pub", {}), "CREATE PUBLICATION \"Pub\" WITH (publish = 'insert');");
  EXPECT_EQ(SetPublicationTablesSql("outbox_relay", {{"a", "b"}, {"c", "d"}}),
            "ALTER PUBLICATION outbox_relay SET TABLE a.b, c.d;");
}

// Slot names are literals in the slot functions.
TEST(SqlTextTest, SlotStatementsQuoteTheSlotAsALiteral) {
  EXPECT_EQ(CreateSlotSql("s'1"), "SELECT pg_create_logical_replication_slot('s''1', 'pgoutput');");
  EXPECT_EQ(DropSlotSql("outbox_relay"), "SELECT pg_drop_replication_slot('outbox_relay');");
  const std::string record = RecordExistingSlotSql("$1");
  EXPECT_NE(record.find("WHERE slot_name = $1\n"), std::string::npos);
  EXPECT_TRUE(record.ends_with("\nON CONFLICT (slot_name) DO NOTHING")) << record;
}

// Statements become comments; comments and empty lines stay; every line ends in a newline.
TEST(SqlTextTest, CommentOutKeepsCommentsAndBlankLines) {
  EXPECT_EQ(CommentOut("-- a role\nCREATE ROLE r;\n\nGRANT x TO r;"),
            "-- a role\n-- CREATE ROLE r;\n\n-- GRANT x TO r;\n");
  EXPECT_EQ(CommentOut(""), "");
}

}  // namespace
}  // namespace outbox_relay::ops::detail
