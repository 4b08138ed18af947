#include "relay/ops/replay.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace outbox_relay::ops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Quoting as the test sees it: visible, so the query text can be checked.
std::string Literal(const std::string& text) { return "'" + text + "'"; }
std::string Identifier(const std::string& text) { return "\"" + text + "\""; }

const std::vector<std::string> kColumns = {"id",      "aggregatetype", "aggregateid", "type",
                                           "payload", "created_at",    "created_lsn"};

TEST(ReplayBoundTest, LsnOrTimestamp) {
  EXPECT_EQ(ParseReplayBound("16/B374D848").kind, ReplayBound::Kind::kLsn);
  EXPECT_EQ(ParseReplayBound("0/0").kind, ReplayBound::Kind::kLsn);
  const ReplayBound time = ParseReplayBound("2026-11-23 10:00:00+00");
  EXPECT_EQ(time.kind, ReplayBound::Kind::kTimestamp);
  EXPECT_EQ(time.text, "2026-11-23 10:00:00+00");
  // Not an LSN: left for PostgreSQL to read (and refuse) as a timestamp.
  EXPECT_EQ(ParseReplayBound("16/XYZ").kind, ReplayBound::Kind::kTimestamp);
  EXPECT_THROW(ParseReplayBound(""), std::invalid_argument);
}

TEST(ReplayQueryTest, LsnRangeIsHalfOpenAndInInsertOrder) {
  ReplayOptions options;
  options.from = ParseReplayBound("0/100");
  options.to = ParseReplayBound("0/200");
  const std::string sql =
      ReplayQuery({"billing", "outbox"}, kColumns, "aggregatetype", options, Literal, Identifier);
  EXPECT_THAT(sql, HasSubstr("\"id\"::text, \"aggregatetype\"::text"));
  EXPECT_THAT(sql, HasSubstr("FROM \"billing\".\"outbox\""));
  EXPECT_THAT(sql, HasSubstr("created_lsn >= '0/100'::pg_lsn AND created_lsn < '0/200'::pg_lsn"));
  EXPECT_THAT(sql, HasSubstr("ORDER BY created_lsn NULLS FIRST, created_at"));
  EXPECT_THAT(sql, Not(HasSubstr("aggregatetype\"::text = ")));
}

TEST(ReplayQueryTest, TimeRangeAggregateTypeAndTablesWithoutLsn) {
  ReplayOptions options;
  options.from = ParseReplayBound("2026-01-01");
  options.aggregate_type = "Order's";
  const std::vector<std::string> v1_columns = {"id", "kind", "created_at"};
  const std::string sql = ReplayQuery({"outbox", "outbox"}, v1_columns, "kind", options, Literal, Identifier);
  EXPECT_THAT(sql, HasSubstr("WHERE created_at >= '2026-01-01'::timestamptz AND \"kind\"::text = 'Order's'"));
  EXPECT_THAT(sql, Not(HasSubstr(" < ")));
  EXPECT_THAT(sql, HasSubstr("ORDER BY created_at"));
  EXPECT_THAT(sql, Not(HasSubstr("created_lsn")));
}

}  // namespace
}  // namespace outbox_relay::ops
