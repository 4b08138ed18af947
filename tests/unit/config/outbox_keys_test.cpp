// The outbox.* keys (config/outbox_keys.cpp): tables and the topic template. Capture modes,
// message prefixes and routing rules: routing_config_test.cpp.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

using namespace outbox_relay::config::test_support;

// ---- Table ------------------------------------------------------------------------------------

// A bare table name lives in the public schema.
TEST(OutboxKeysTest, BareTableDefaultsToPublicSchema) {
  const Config config = ParseConfig(WithDsn("outbox:\n  tables: events\n"), {});
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"public", "events"}}));
}

// "schema.table" splits on the dot, keeping case as written.
TEST(OutboxKeysTest, QualifiedTableSplitsOnDot) {
  const Config config = ParseConfig(WithDsn("outbox:\n  tables: Billing.Outbox\n"), {});
  EXPECT_EQ(config.outbox.tables, (std::vector<TableName>{{"Billing", "Outbox"}}));
}

// ---- Topic template ---------------------------------------------------------------------------

// A fixed topic without placeholders is accepted.
TEST(OutboxKeysTest, AcceptsFixedTopic) {
  EXPECT_EQ(ParseConfig(WithDsn("outbox:\n  topic: all-events_v1\n"), {}).outbox.topic,
            "all-events_v1");
}

// Both known placeholders may be combined with static text.
TEST(OutboxKeysTest, AcceptsBothPlaceholders) {
  EXPECT_EQ(ParseConfig(WithDsn("outbox:\n  topic: 'x.{aggregate_type}-{type}'\n"), {})
                .outbox.topic,
            "x.{aggregate_type}-{type}");
}

// An unknown placeholder is named in the error.
TEST(OutboxKeysTest, RejectsUnknownTopicPlaceholder) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  topic: 'events.{tenant}'\n"));
  EXPECT_EQ(error.key(), "outbox.topic");
  EXPECT_THAT(error.what(), HasSubstr("{tenant}"));
}

// An opening brace without its closing one is rejected.
TEST(OutboxKeysTest, RejectsUnclosedTopicBrace) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  topic: 'events.{type'\n"));
  EXPECT_EQ(error.key(), "outbox.topic");
  EXPECT_THAT(error.what(), HasSubstr("unbalanced"));
}

// A closing brace without an opening one is rejected.
TEST(OutboxKeysTest, RejectsStrayClosingTopicBrace) {
  EXPECT_THAT(ErrorFrom(WithDsn("outbox:\n  topic: 'events}'\n")).what(),
              HasSubstr("unbalanced"));
}

// Nested braces are unbalanced, not a placeholder.
TEST(OutboxKeysTest, RejectsNestedTopicBraces) {
  EXPECT_THAT(ErrorFrom(WithDsn("outbox:\n  topic: '{{type}}'\n")).what(),
              HasSubstr("unbalanced"));
}

// Static text outside Kafka's topic alphabet is rejected.
TEST(OutboxKeysTest, RejectsInvalidTopicCharacter) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  topic: 'events/{type}'\n"));
  EXPECT_EQ(error.key(), "outbox.topic");
  EXPECT_THAT(error.what(), HasSubstr("'/'"));
}

// ---- Every key's bad value names the key ------------------------------------------------------

// Each outbox key's bad value, and a routing rule that changes nothing, name the key
// (BadValueTest, key_table_test.cpp).
INSTANTIATE_TEST_SUITE_P(
    OutboxKeys, BadValueTest,
    ::testing::Values(
        BadValue{"outbox:\n  tables: a.b.c\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: .t\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: s.\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: ''\n", "outbox.tables", "at least one table"},
        BadValue{"outbox:\n  tables: 'a.t,'\n", "outbox.tables", "schema.table"},
        BadValue{"outbox:\n  tables: [a.t, a.t]\n", "outbox.tables", "lists a.t twice"},
        BadValue{"outbox:\n  tables: [a.t, [b]]\n", "outbox.tables[1]", "expected a name"},
        BadValue{"outbox:\n  capture: rows\n", "outbox.capture", "table, messages, both"},
        BadValue{"outbox:\n  message_prefixes: [a, '']\n", "outbox.message_prefixes", "empty prefix"},
        BadValue{"outbox:\n  message_prefixes: outbox-relay.heartbeat\n",
                 "outbox.message_prefixes", "heartbeat"},
        BadValue{"outbox:\n  format: avro\n", "outbox.format",
                 "payload, envelope, cloudevents-binary, cloudevents-structured"},
        BadValue{"outbox:\n  cloudevents:\n    source: /a b\n", "outbox.cloudevents.source",
                 "URI-reference"},
        BadValue{"outbox:\n  key: ''\n  routes:\n    - {type: X}\n", "outbox.routes[0]",
                 "sets none of topic, key, format"},
        BadValue{"outbox:\n  topic: ''\n", "outbox.topic", "empty"},
        BadValue{"outbox:\n  columns:\n    id: ''\n", "outbox.columns.id", "empty"},
        BadValue{"outbox:\n  columns:\n    aggregate_type: ''\n", "outbox.columns.aggregate_type",
                 "empty"},
        BadValue{"outbox:\n  columns:\n    aggregate_id: ''\n", "outbox.columns.aggregate_id",
                 "empty"},
        BadValue{"outbox:\n  columns:\n    type: ''\n", "outbox.columns.type", "empty"},
        BadValue{"outbox:\n  columns:\n    payload: ''\n", "outbox.columns.payload", "empty"},
        BadValue{"outbox:\n  columns:\n    headers: ''\n", "outbox.columns.headers", "empty"},
        BadValue{"outbox:\n  columns:\n    payload: id\n", "outbox.columns.payload",
                 "already used by outbox.columns.id"}));

}  // namespace
}  // namespace outbox_relay::config
