// outbox.tables, outbox.capture, outbox.message_prefixes, outbox.format/key and outbox.routes.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using test_support::ErrorFrom;
using test_support::WithDsn;
using ::testing::HasSubstr;

constexpr const char* kTwoContexts = R"(outbox:
  tables: [booking.outbox, seats.outbox]
  capture: both
  message_prefixes: [booking, seats]
  topic: "{schema}.events"
  key: aggregateid
  format: envelope
  cloudevents:
    source: /flights/booking
  routes:
    - source: table:seats.outbox
      type: SeatReserved
      topic: seats.reserved
      key: id
      format: cloudevents-structured
    - aggregate_type: Audit
      format: cloudevents-binary
)";

TEST(RoutingConfigTest, ParsesTablesPrefixesAndRules) {
  const Config config = ParseConfig(WithDsn(kTwoContexts), {});
  const OutboxConfig& outbox = config.outbox;
  EXPECT_EQ(outbox.tables, (std::vector<TableName>{{"booking", "outbox"}, {"seats", "outbox"}}));
  EXPECT_EQ(outbox.capture, CaptureMode::kBoth);
  EXPECT_TRUE(outbox.CapturesTables());
  EXPECT_TRUE(outbox.CapturesMessages());
  EXPECT_EQ(outbox.message_prefixes, (std::vector<std::string>{"booking", "seats"}));
  EXPECT_EQ(outbox.topic, "{schema}.events");
  EXPECT_EQ(outbox.KeyColumn(), "aggregateid");
  EXPECT_EQ(outbox.format, EventFormat::kEnvelope);
  EXPECT_EQ(outbox.cloudevents_source, "/flights/booking");
  ASSERT_EQ(outbox.routes.size(), 2u);
  const RouteConfig& first = outbox.routes[0];
  EXPECT_EQ(first.source, "table:seats.outbox");
  EXPECT_EQ(first.type, "SeatReserved");
  EXPECT_EQ(first.aggregate_type, "");
  EXPECT_EQ(first.topic, "seats.reserved");
  EXPECT_EQ(first.key, "id");
  EXPECT_EQ(first.format, EventFormat::kCloudEventsStructured);
  const RouteConfig& second = outbox.routes[1];
  EXPECT_EQ(second.aggregate_type, "Audit");
  EXPECT_EQ(second.topic, "");
  EXPECT_EQ(second.format, EventFormat::kCloudEventsBinary);
}

// The environment spells lists comma-separated; a messages-only relay needs no table.
TEST(RoutingConfigTest, EnvironmentListsAndMessagesOnly) {
  const Config config = ParseConfig(WithDsn(""), {{"OUTBOX_RELAY_OUTBOX_CAPTURE", "messages"},
                                                  {"OUTBOX_RELAY_OUTBOX_MESSAGE_PREFIXES", "a, b"},
                                                  {"OUTBOX_RELAY_OUTBOX_TABLES", ""}});
  EXPECT_FALSE(config.outbox.CapturesTables());
  EXPECT_EQ(config.outbox.message_prefixes, (std::vector<std::string>{"a", "b"}));
}

TEST(RoutingConfigTest, CaptureNeedsSomethingToCapture) {
  const ConfigError error = ErrorFrom(WithDsn("outbox:\n  capture: messages\n  message_prefixes: []\n"));
  EXPECT_EQ(error.key(), "outbox.message_prefixes");
  EXPECT_THAT(error.what(), HasSubstr("at least one prefix"));
}

// A rule for a source the relay does not capture could never fire: say which ones it does.
TEST(RoutingConfigTest, RuleSourceMustBeCaptured) {
  const ConfigError error =
      ErrorFrom(WithDsn("outbox:\n  routes:\n    - source: table:billing.outbox\n      topic: b\n"));
  EXPECT_EQ(error.key(), "outbox.routes[0].source");
  EXPECT_THAT(error.what(), HasSubstr("captured: table:outbox.outbox"));
  // Message sources only count when messages are captured.
  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  routes:\n    - source: message:outbox\n      topic: b\n")).key(),
            "outbox.routes[0].source");
  EXPECT_NO_THROW(ParseConfig(
      WithDsn("outbox:\n  capture: both\n  routes:\n    - source: message:outbox\n      topic: b\n"), {}));
}

TEST(RoutingConfigTest, RuleFieldsAreChecked) {
  const ConfigError typo = ErrorFrom(WithDsn("outbox:\n  routes:\n    - {type: X, topik: t}\n"));
  EXPECT_EQ(typo.key(), "outbox.routes[0].topik");
  EXPECT_THAT(typo.what(), HasSubstr("did you mean topic?"));

  const ConfigError topic =
      ErrorFrom(WithDsn("outbox:\n  routes:\n    - {type: X, topic: t}\n    - {topic: 'a/{type}'}\n"));
  EXPECT_EQ(topic.key(), "outbox.routes[1].topic");
  EXPECT_THAT(topic.what(), HasSubstr("'/'"));

  const ConfigError format = ErrorFrom(WithDsn("outbox:\n  routes:\n    - {format: xml}\n"));
  EXPECT_EQ(format.key(), "outbox.routes[0].format");
  EXPECT_THAT(format.what(), HasSubstr("cloudevents-structured"));

  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  routes: {topic: t}\n")).key(), "outbox.routes");
  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  routes: [x]\n")).key(), "outbox.routes[0]");
  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  routes:\n    - {topic: [a]}\n")).key(), "outbox.routes[0].topic");
  EXPECT_EQ(ErrorFrom(WithDsn("outbox:\n  routes:\n    - {topic: a, topic: b}\n")).key(),
            "outbox.routes[0].topic");
}

// Rules live in the file only; an environment variable that looks like one is a mistake.
TEST(RoutingConfigTest, RulesAreNotEnvironmentKeys) {
  EXPECT_EQ(ErrorFrom(WithDsn(""), {{"OUTBOX_RELAY_OUTBOX_ROUTES", "x"}}).key(), "OUTBOX_RELAY_OUTBOX_ROUTES");
}

}  // namespace
}  // namespace outbox_relay::config
