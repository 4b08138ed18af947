#include "outbox/poison.hpp"

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace outbox_relay::outbox {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// A row of a known table as the mapper and assembler fill it in.
PoisonRow MissingKeyRow() {
  PoisonRow row;
  row.reason = PoisonReason::kMissingKey;
  row.detail = "aggregate id is NULL or empty";
  row.source = "table:outbox.outbox";
  row.id = "7f1c";
  row.commit_lsn = "16/B374D848";
  row.topic = "outbox.event.Order";
  row.value = R"({"total": 12})";
  return row;
}

// Codes are stable, distinct, snake_case, and read back to the same reason.
TEST(PoisonReasonTest, CodesRoundTrip) {
  std::set<std::string_view> codes;
  for (const PoisonReason reason : kPoisonReasons) {
    const std::string_view code = ReasonCode(reason);
    EXPECT_TRUE(codes.insert(code).second) << code;
    EXPECT_EQ(code.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string_view::npos) << code;
    EXPECT_EQ(ReasonFromCode(code), reason) << code;
  }
  EXPECT_EQ(ReasonCode(PoisonReason::kInvalidJson), "invalid_json");
  EXPECT_EQ(ReasonCode(PoisonReason::kMissingKey), "missing_key");
  EXPECT_EQ(ReasonCode(PoisonReason::kMissingColumn), "missing_column");
  EXPECT_EQ(ReasonCode(PoisonReason::kInvalidTopic), "invalid_topic");
  EXPECT_EQ(ReasonCode(PoisonReason::kRecordTooLarge), "record_too_large");
  EXPECT_EQ(ReasonFromCode("Missing_Key"), std::nullopt);
  EXPECT_EQ(ReasonFromCode(""), std::nullopt);
}

// The log line names table, row id, commit LSN and reason, in that order; NULL ids say so.
TEST(PoisonRowTest, DescribeNamesTableIdLsnAndReason) {
  PoisonRow row = MissingKeyRow();
  EXPECT_EQ(
      row.Describe(),
      "table outbox.outbox, id 7f1c, commit LSN 16/B374D848, reason missing_key: aggregate id is NULL or empty");
  row.id.clear();
  row.source = "message:outbox";
  EXPECT_EQ(row.Describe(),
            "message:outbox, id NULL, commit LSN 16/B374D848, reason missing_key: aggregate id is NULL or empty");
  EXPECT_STREQ(PoisonRowError(row).what(), ("poison row: " + row.Describe()).c_str());
}

// A dead-letter record: the payload as value, then the refused record's headers, then the error
// headers in a fixed order, byte for byte.
TEST(EncodeDeadLetterTest, ErrorHeadersFollowTheRecordsOwn) {
  PoisonRow row = MissingKeyRow();
  row.headers = {{"id", "7f1c"}, {"trace", "abc"}};
  EncodedEvent record;
  EncodeDeadLetter(row, record);
  EXPECT_EQ(record.value, std::optional<std::string_view>(R"({"total": 12})"));
  EXPECT_THAT(record.headers, ElementsAre(Pair("id", "7f1c"), Pair("trace", "abc"),
                                          Pair("__outbox_relay.errors.reason", "missing_key"),
                                          Pair("__outbox_relay.errors.message", "aggregate id is NULL or empty"),
                                          Pair("__outbox_relay.errors.source", "table:outbox.outbox"),
                                          Pair("__outbox_relay.errors.id", "7f1c"),
                                          Pair("__outbox_relay.errors.commit_lsn", "16/B374D848"),
                                          Pair("__outbox_relay.errors.topic", "outbox.event.Order")));
}

// A NULL payload is a record without value; reusing the record leaves nothing of the previous one.
TEST(EncodeDeadLetterTest, NullValueAndReuse) {
  EncodedEvent record;
  PoisonRow first = MissingKeyRow();
  first.headers = {{"trace", "abc"}};
  EncodeDeadLetter(first, record);
  PoisonRow second = MissingKeyRow();
  second.reason = PoisonReason::kInvalidTopic;
  second.value = std::nullopt;
  second.topic = "outbox.event.Order Line";
  EncodeDeadLetter(second, record);
  EXPECT_EQ(record.value, std::nullopt);
  ASSERT_EQ(record.headers.size(), 6u);
  EXPECT_EQ(record.headers[0],
            (std::pair<std::string_view, std::string_view>("__outbox_relay.errors.reason", "invalid_topic")));
  EXPECT_EQ(record.headers[5].second, "outbox.event.Order Line");
}

}  // namespace
}  // namespace outbox_relay::outbox
