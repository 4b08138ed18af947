#include "outbox/event_mapper.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace outbox_relay::outbox {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::Pair;

using Headers = std::vector<std::pair<std::string, std::string>>;

// A complete, publishable row; tests change the one value they are about.
OutboxRowValues Row() {
  return {"7", "Order", "order-1", "OrderCreated", R"({"total": 12})", R"({"trace": "abc"})", {"order-1"}};
}

const EventOrigin kOutbox = EventOrigin::Table({"outbox", "outbox"});

config::OutboxConfig ConfigWithTopic(std::string topic) {
  config::OutboxConfig config;
  config.topic = std::move(topic);
  return config;
}

// The poison row Map reports for `row`; fails the test if it maps the row.
PoisonRow PoisonRowOf(const EventMapper& mapper, const OutboxRowValues& row) {
  try {
    mapper.Map(row, kOutbox);
  } catch (const PoisonRowError& error) {
    return error.row();
  }
  ADD_FAILURE() << "row mapped without a PoisonRowError";
  return {};
}

// The PoisonRowError message Map throws for `row`; fails the test if it throws none.
std::string PoisonOf(const EventMapper& mapper, const OutboxRowValues& row) {
  return PoisonRowOf(mapper, row).Describe();
}

config::OutboxConfig ConfigWithFormat(config::EventFormat format) {
  config::OutboxConfig config;
  config.format = format;
  return config;
}

// ---- OutboxRowLayout ---------------------------------------------------------------------------

// Columns are found by name wherever the table puts them, among unrelated columns.
TEST(OutboxRowLayoutTest, ResolvesColumnsInAnyOrder) {
  const std::vector<std::string_view> columns = {"headers",     "created_at", "type",         "payload",
                                                 "aggregateid", "id",         "aggregatetype"};
  const OutboxRowLayout layout = OutboxRowLayout::Resolve(config::OutboxColumns{}, columns, {});
  EXPECT_EQ(layout.id, 5u);
  EXPECT_EQ(layout.aggregate_type, 6u);
  EXPECT_EQ(layout.aggregate_id, 4u);
  EXPECT_EQ(layout.type, 2u);
  EXPECT_THAT(layout.payload, Optional(3u));
  EXPECT_THAT(layout.headers, Optional(0u));
  EXPECT_EQ(layout.column_count, 7u);
}

// A table without payload and headers columns is still an outbox table.
TEST(OutboxRowLayoutTest, PayloadAndHeadersAreOptional) {
  const std::vector<std::string_view> columns = {"id", "aggregatetype", "aggregateid", "type"};
  const OutboxRowLayout layout = OutboxRowLayout::Resolve(config::OutboxColumns{}, columns, {});
  EXPECT_EQ(layout.payload, std::nullopt);
  EXPECT_EQ(layout.headers, std::nullopt);
  EXPECT_EQ(layout.column_count, 4u);
}

// Configured column names replace the defaults.
TEST(OutboxRowLayoutTest, UsesConfiguredColumnNames) {
  config::OutboxColumns names;
  names.id = "event_id";
  names.aggregate_type = "kind";
  names.aggregate_id = "key";
  names.type = "event_type";
  names.payload = "body";
  const std::vector<std::string_view> columns = {"key", "body", "event_type", "kind", "event_id"};
  const OutboxRowLayout layout = OutboxRowLayout::Resolve(names, columns, {});
  EXPECT_EQ(layout.id, 4u);
  EXPECT_EQ(layout.aggregate_type, 3u);
  EXPECT_EQ(layout.aggregate_id, 0u);
  EXPECT_EQ(layout.type, 2u);
  EXPECT_THAT(layout.payload, Optional(1u));
  EXPECT_EQ(layout.headers, std::nullopt);
}

// A missing required column names the column and the key that would fix it.
TEST(OutboxRowLayoutTest, MissingRequiredColumnNamesConfigKey) {
  const std::vector<std::string_view> columns = {"id", "aggregatetype", "type", "payload"};
  try {
    OutboxRowLayout::Resolve(config::OutboxColumns{}, columns, {});
    FAIL() << "expected TableShapeError";
  } catch (const TableShapeError& error) {
    EXPECT_THAT(error.what(), HasSubstr("\"aggregateid\""));
    EXPECT_THAT(error.what(), HasSubstr("outbox.columns.aggregate_id"));
  }
}

// ---- EventMapper::Map --------------------------------------------------------------------------

// Every column lands in its field and the default template routes by aggregate type.
TEST(EventMapperTest, MapsRowToEvent) {
  const EventMapper mapper(config::OutboxConfig{});
  const OutboxEvent event = mapper.Map(Row(), kOutbox);
  EXPECT_EQ(event.id, "7");
  EXPECT_EQ(event.aggregate_type, "Order");
  EXPECT_EQ(event.aggregate_id, "order-1");
  EXPECT_EQ(event.type, "OrderCreated");
  EXPECT_THAT(event.payload, Optional(std::string(R"({"total": 12})")));
  EXPECT_THAT(event.headers, ElementsAre(Pair("trace", "abc")));
  EXPECT_EQ(event.topic, "outbox.event.Order");
  EXPECT_EQ(event.key, "order-1");
  EXPECT_EQ(event.source, "table:outbox.outbox");
  EXPECT_EQ(event.cloudevents_source, "/outbox/outbox");
  EXPECT_EQ(event.format, config::EventFormat::kPayload);
  EXPECT_EQ(event.commit_lsn, "");  // the assembler's to fill in
}

// For RabbitMQ the exchange is a template like the topic: the default one, or a rule's own;
// without one (every sink but RabbitMQ) events carry none. An illegal rendering is poison.
TEST(EventMapperTest, RendersTheExchangeFromItsTemplateOrTheRule) {
  EXPECT_EQ(EventMapper(config::OutboxConfig{}).Map(Row(), kOutbox).exchange, "");
  EXPECT_EQ(EventMapper(config::OutboxConfig{}, "events.{table}").Map(Row(), kOutbox).exchange, "events.outbox");
  config::OutboxConfig config;
  config.routes = {{"", "Order", "", "", "", std::nullopt, "orders.{type}"}};
  OutboxRowValues row = Row();
  row.keys = {"order-1", "order-1"};
  EXPECT_EQ(EventMapper(config, "events").Map(row, kOutbox).exchange, "orders.OrderCreated");
  row.type = "Order Created";
  const PoisonRow poison = PoisonRowOf(EventMapper(config, "events"), row);
  EXPECT_EQ(poison.reason, PoisonReason::kInvalidTopic);
  EXPECT_THAT(poison.detail, HasSubstr("outbox.routes[0].exchange"));
}

// A SQL NULL payload stays absent rather than becoming an empty value.
TEST(EventMapperTest, NullPayloadGivesNoPayload) {
  OutboxRowValues row = Row();
  row.payload = std::nullopt;
  EXPECT_EQ(EventMapper(config::OutboxConfig{}).Map(row, kOutbox).payload, std::nullopt);
}

// An empty payload is a value, distinct from NULL.
TEST(EventMapperTest, EmptyPayloadIsKept) {
  OutboxRowValues row = Row();
  row.payload = "";
  EXPECT_THAT(EventMapper(config::OutboxConfig{}).Map(row, kOutbox).payload, Optional(std::string()));
}

// Headers that are JSON null, or SQL NULL, give no headers.
TEST(EventMapperTest, NullHeadersGiveNoHeaders) {
  const EventMapper mapper(config::OutboxConfig{});
  OutboxRowValues row = Row();
  row.headers = "null";
  EXPECT_THAT(mapper.Map(row, kOutbox).headers, IsEmpty());
  row.headers = std::nullopt;
  EXPECT_THAT(mapper.Map(row, kOutbox).headers, IsEmpty());
}

// String header values travel unquoted; other JSON values as their JSON text.
TEST(EventMapperTest, HeaderValuesKeepStringsUnquoted) {
  OutboxRowValues row = Row();
  row.headers = R"({"a": "x", "b": true, "n": 5, "o": {"k": [1]}})";
  EXPECT_THAT(EventMapper(config::OutboxConfig{}).Map(row, kOutbox).headers,
              ElementsAre(Pair("a", "x"), Pair("b", "true"), Pair("n", "5"), Pair("o", R"({"k":[1]})")));
}

// Headers that are JSON but not an object are a poison row.
TEST(EventMapperTest, NonObjectHeadersArePoison) {
  const EventMapper mapper(config::OutboxConfig{});
  OutboxRowValues row = Row();
  row.headers = "[1, 2]";
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("headers column is not a JSON object"));
  row.headers = R"("text")";
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("headers column is not a JSON object"));
}

// Headers that are not JSON at all are a poison row.
TEST(EventMapperTest, InvalidJsonHeadersArePoison) {
  OutboxRowValues row = Row();
  row.headers = R"({"a": )";
  EXPECT_THAT(PoisonOf(EventMapper(config::OutboxConfig{}), row), HasSubstr("headers column is not valid JSON"));
}

// An empty or NULL aggregate id would give the event no key: poison.
TEST(EventMapperTest, EmptyOrNullAggregateIdIsPoison) {
  const EventMapper mapper(config::OutboxConfig{});
  OutboxRowValues row = Row();
  row.aggregate_id = "";
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("aggregate id is NULL or empty"));
  row.aggregate_id = std::nullopt;
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("aggregate id is NULL or empty"));
}

// A NULL id, aggregate type or type is poison too, naming the column.
TEST(EventMapperTest, NullRequiredValuesArePoison) {
  const EventMapper mapper(config::OutboxConfig{});
  OutboxRowValues row = Row();
  row.id = std::nullopt;
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("id is NULL"));
  row = Row();
  row.aggregate_type = std::nullopt;
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("aggregate type is NULL"));
  row = Row();
  row.type = "";
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("type is NULL or empty"));
}

// A template with {type} routes by event type as well.
TEST(EventMapperTest, TopicTemplateUsesType) {
  const EventMapper mapper(ConfigWithTopic("{aggregate_type}.{type}"));
  EXPECT_EQ(mapper.Map(Row(), kOutbox).topic, "Order.OrderCreated");
}

// An aggregate type that makes an illegal topic is poison, and the message shows the topic.
TEST(EventMapperTest, IllegalRenderedTopicIsPoison) {
  OutboxRowValues row = Row();
  row.aggregate_type = "Order Line";
  const std::string error = PoisonOf(EventMapper(config::OutboxConfig{}), row);
  EXPECT_THAT(error, HasSubstr("topic \"outbox.event.Order Line\" is not a legal Kafka topic name"));
}

// A topic over Kafka's 249-character limit is poison as well.
TEST(EventMapperTest, OverlongRenderedTopicIsPoison) {
  const EventMapper mapper(ConfigWithTopic("{aggregate_type}"));
  OutboxRowValues row = Row();
  const std::string longest(249, 'a');
  row.aggregate_type = longest;
  EXPECT_EQ(mapper.Map(row, kOutbox).topic, longest);
  const std::string too_long = longest + "a";
  row.aggregate_type = too_long;
  EXPECT_THAT(PoisonOf(mapper, row), HasSubstr("not a legal Kafka topic name"));
}

// A template config validation would refuse cannot build a mapper either.
TEST(EventMapperTest, RejectsInvalidTemplate) {
  EXPECT_THROW(EventMapper{ConfigWithTopic("events.{tenant}")}, std::invalid_argument);
}

// ---- Poison reasons ----------------------------------------------------------------------------

// Each kind of bad row has its reason code, and the row keeps what is known of it.
TEST(EventMapperPoisonTest, ReasonPerKind) {
  const EventMapper mapper(config::OutboxConfig{});
  OutboxRowValues row = Row();
  row.aggregate_id = "";
  PoisonRow poison = PoisonRowOf(mapper, row);
  EXPECT_EQ(poison.reason, PoisonReason::kMissingKey);
  EXPECT_EQ(poison.detail, "aggregate id is NULL or empty");
  EXPECT_EQ(poison.id, "7");
  EXPECT_EQ(poison.source, "table:outbox.outbox");
  EXPECT_EQ(poison.value, std::optional<std::string>(R"({"total": 12})"));
  EXPECT_EQ(poison.key, std::nullopt) << "not routed yet";
  EXPECT_EQ(poison.topic, "");

  row = Row();
  row.keys = {std::nullopt};
  EXPECT_EQ(PoisonRowOf(mapper, row).reason, PoisonReason::kMissingKey);

  row = Row();
  row.id = std::nullopt;
  poison = PoisonRowOf(mapper, row);
  EXPECT_EQ(poison.reason, PoisonReason::kMissingField);
  EXPECT_EQ(poison.id, "");
  row = Row();
  row.type = "";
  EXPECT_EQ(PoisonRowOf(mapper, row).reason, PoisonReason::kMissingField);

  row = Row();
  row.headers = "[1, 2]";
  poison = PoisonRowOf(mapper, row);
  EXPECT_EQ(poison.reason, PoisonReason::kInvalidHeaders);
  EXPECT_EQ(poison.topic, "outbox.event.Order");
  EXPECT_EQ(poison.key, std::optional<std::string>("order-1"));
  row.headers = "{\"a\": ";
  EXPECT_EQ(PoisonRowOf(mapper, row).reason, PoisonReason::kInvalidHeaders);

  row = Row();
  row.aggregate_type = "Order/Line";
  poison = PoisonRowOf(mapper, row);
  EXPECT_EQ(poison.reason, PoisonReason::kInvalidTopic);
  EXPECT_EQ(poison.topic, "outbox.event.Order/Line") << "the illegal name, for the dead-letter header";
}

// Kafka's topic rule at its edges: 249 characters pass, ".", ".." and 250 do not.
TEST(EventMapperPoisonTest, TopicRuleEdges) {
  const EventMapper mapper(ConfigWithTopic("{aggregate_type}"));
  OutboxRowValues row = Row();
  for (const std::string& good :
       {std::string("a"), std::string("..."), std::string("A-z_0.9"), std::string(249, 'x')}) {
    row.aggregate_type = good;
    EXPECT_EQ(mapper.Map(row, kOutbox).topic, good);
  }
  for (const std::string& bad : {std::string("."), std::string(".."), std::string(250, 'x'), std::string("a b"),
                                 std::string("caf\xc3\xa9"), std::string("a\0b", 3)}) {
    row.aggregate_type = bad;
    EXPECT_EQ(PoisonRowOf(mapper, row).reason, PoisonReason::kInvalidTopic) << bad;
  }
}

// The formats that embed the payload in a JSON document refuse payload bytes that are not JSON.
TEST(EventMapperPoisonTest, InvalidJsonPayloadForJsonEmbeddingFormats) {
  const std::vector<std::string> not_json = {"{\"total\": 12",     "hello", "{'a': 1}", "[1,]", "", "\xff\xfe",
                                             "{\"a\": 1} trailing"};
  for (const auto format : {config::EventFormat::kEnvelope, config::EventFormat::kCloudEventsStructured}) {
    const EventMapper mapper(ConfigWithFormat(format));
    OutboxRowValues row = Row();
    for (const std::string& payload : not_json) {
      row.payload = payload;
      const PoisonRow poison = PoisonRowOf(mapper, row);
      EXPECT_EQ(poison.reason, PoisonReason::kInvalidJson) << payload;
      EXPECT_EQ(poison.value, std::optional<std::string>(payload)) << "the payload as stored";
    }
    for (const std::string json : {"12", "\"text\"", "null", "[]", " {\"a\": [1, {\"b\": null}]} "}) {
      row.payload = json;
      EXPECT_EQ(mapper.Map(row, kOutbox).payload, std::optional<std::string>(json));
    }
    row.payload = std::nullopt;
    EXPECT_EQ(mapper.Map(row, kOutbox).payload, std::nullopt) << "a NULL payload is JSON null";
  }
}

// The payload and CloudEvents binary formats pass any bytes through, and a json/jsonb column is
// not parsed again (PostgreSQL validated it).
TEST(EventMapperPoisonTest, PayloadBytesPassWhereNotEmbeddedOrKnownJson) {
  for (const auto format : {config::EventFormat::kPayload, config::EventFormat::kCloudEventsBinary}) {
    OutboxRowValues row = Row();
    row.payload = "not json";
    EXPECT_EQ(EventMapper(ConfigWithFormat(format)).Map(row, kOutbox).payload,
              std::optional<std::string>("not json"));
  }
  OutboxRowValues row = Row();
  row.payload = "not json";
  row.payload_is_json = true;
  EXPECT_EQ(EventMapper(ConfigWithFormat(config::EventFormat::kEnvelope)).Map(row, kOutbox).payload,
            std::optional<std::string>("not json"));
}

// A route's format decides: the same text payload is fine under one rule, poison under another.
TEST(EventMapperPoisonTest, RouteFormatDecidesJsonCheck) {
  config::OutboxConfig config;
  config.routes = {{"", "Audit", "", "", "", config::EventFormat::kEnvelope, ""}};
  const EventMapper mapper(config);
  OutboxRowValues row = Row();
  row.keys = {"order-1", "order-1"};
  row.payload = "plain text";
  EXPECT_EQ(mapper.Map(row, kOutbox).payload, std::optional<std::string>("plain text"));
  row.aggregate_type = "Audit";
  EXPECT_EQ(PoisonRowOf(mapper, row).reason, PoisonReason::kInvalidJson);
}

// ---- Routing -----------------------------------------------------------------------------------

// Two contexts' outboxes, a messages prefix, and rules; the default comes last.
config::OutboxConfig RoutedConfig() {
  config::OutboxConfig config;
  config.tables = {{"booking", "outbox"}, {"seats", "outbox"}};
  config.capture = config::CaptureMode::kBoth;
  config.message_prefixes = {"booking"};
  config.topic = "{schema}.{table}.events";
  config.cloudevents_source = "/flights";
  config.routes = {
      {"table:seats.outbox", "", "SeatReserved", "seats.reserved", "id",
       config::EventFormat::kCloudEventsStructured, ""},
      {"", "Audit", "", "", "", config::EventFormat::kEnvelope, ""},
  };
  return config;
}

// The key column of each rule, for the tables a rule can apply to; the default rule last.
TEST(EventMapperRoutingTest, KeyColumnsFollowRulesAndOrigin) {
  const EventMapper mapper(RoutedConfig());
  const auto seats = mapper.KeyColumns(EventOrigin::Table({"seats", "outbox"}));
  ASSERT_EQ(seats.size(), 3u);
  EXPECT_EQ(seats[0]->name, "id");
  EXPECT_EQ(seats[0]->config_key, "outbox.routes[0].key");
  EXPECT_EQ(seats[1]->name, "aggregateid");
  EXPECT_EQ(seats[2]->name, "aggregateid");
  const auto booking = mapper.KeyColumns(EventOrigin::Table({"booking", "outbox"}));
  EXPECT_EQ(booking[0], std::nullopt);  // rule 0 is for seats.outbox only
  EXPECT_EQ(booking[2]->config_key, "outbox.columns.aggregate_id");
}

// A rule's key column missing from a table it applies to is a table shape problem, found
// when the table is first seen rather than row by row.
TEST(EventMapperRoutingTest, MissingRuleKeyColumnNamesTheRule) {
  const EventMapper mapper(RoutedConfig());
  const std::vector<std::string_view> columns = {"aggregateid", "aggregatetype", "type", "event_id"};
  config::OutboxColumns names;
  names.id = "event_id";
  try {
    OutboxRowLayout::Resolve(names, columns, mapper.KeyColumns(EventOrigin::Table({"seats", "outbox"})));
    FAIL() << "expected TableShapeError";
  } catch (const TableShapeError& error) {
    EXPECT_THAT(error.what(), HasSubstr("no column \"id\"; set outbox.routes[0].key"));
  }
  // The booking table is not subject to that rule, so the same shape is fine there.
  const OutboxRowLayout layout =
      OutboxRowLayout::Resolve(names, columns, mapper.KeyColumns(EventOrigin::Table({"booking", "outbox"})));
  EXPECT_THAT(layout.keys, ElementsAre(std::nullopt, Optional(0u), Optional(0u)));
}

// The first matching rule wins; what it leaves open comes from the outbox section.
TEST(EventMapperRoutingTest, FirstMatchingRuleDecides) {
  const EventMapper mapper(RoutedConfig());
  const EventOrigin seats = EventOrigin::Table({"seats", "outbox"});
  OutboxRowValues row = Row();
  row.type = "SeatReserved";
  row.keys = {"7", "order-1", "order-1"};
  const OutboxEvent reserved = mapper.Map(row, seats);
  EXPECT_EQ(reserved.topic, "seats.reserved");
  EXPECT_EQ(reserved.key, "7");
  EXPECT_EQ(reserved.format, config::EventFormat::kCloudEventsStructured);
  EXPECT_EQ(reserved.source, "table:seats.outbox");
  EXPECT_EQ(reserved.cloudevents_source, "/flights");

  row.type = "SeatReleased";
  const OutboxEvent released = mapper.Map(row, seats);
  EXPECT_EQ(released.topic, "seats.outbox.events");
  EXPECT_EQ(released.key, "order-1");
  EXPECT_EQ(released.format, config::EventFormat::kPayload);

  row.aggregate_type = "Audit";
  const OutboxEvent audit = mapper.Map(row, seats);
  EXPECT_EQ(audit.topic, "seats.outbox.events");
  EXPECT_EQ(audit.format, config::EventFormat::kEnvelope);
}

// The same rule on another table's SeatReserved does not fire: its source matcher says no.
TEST(EventMapperRoutingTest, SourceMatcherLimitsRule) {
  const EventMapper mapper(RoutedConfig());
  OutboxRowValues row = Row();
  row.type = "SeatReserved";
  row.keys = {std::nullopt, "order-1", "order-1"};
  const OutboxEvent event = mapper.Map(row, EventOrigin::Table({"booking", "outbox"}));
  EXPECT_EQ(event.topic, "booking.outbox.events");
  EXPECT_EQ(event.format, config::EventFormat::kPayload);
}

// Messages: {schema} is the prefix, {table} is "message", and fields use Debezium's names.
TEST(EventMapperRoutingTest, MessageOrigin) {
  const EventMapper mapper(RoutedConfig());
  const EventOrigin origin = EventOrigin::Message("booking");
  EXPECT_EQ(origin.source, "message:booking");
  EXPECT_EQ(&mapper.Columns(origin), &kMessageFields);
  const auto keys = mapper.KeyColumns(origin);
  EXPECT_EQ(keys[0], std::nullopt);
  EXPECT_EQ(keys[2]->name, "aggregateid");
  OutboxRowValues row = Row();
  row.keys = {std::nullopt, "order-1", "order-1"};
  const OutboxEvent event = mapper.Map(row, origin);
  EXPECT_EQ(event.topic, "booking.message.events");
  EXPECT_EQ(event.source, "message:booking");
}

// A rule's key column holding NULL leaves the event without a key: poison, not a null key.
TEST(EventMapperRoutingTest, NullKeyIsPoison) {
  const EventMapper mapper(RoutedConfig());
  OutboxRowValues row = Row();
  row.type = "SeatReserved";
  row.keys = {std::nullopt, "order-1", "order-1"};
  try {
    mapper.Map(row, EventOrigin::Table({"seats", "outbox"}));
    FAIL() << "expected PoisonRowError";
  } catch (const PoisonRowError& error) {
    EXPECT_THAT(error.what(), HasSubstr("message key is NULL or empty"));
  }
}

// Without a cloudevents.source the source names where the event came from.
TEST(EventMapperRoutingTest, DefaultCloudEventsSource) {
  config::OutboxConfig config;
  config.capture = config::CaptureMode::kBoth;
  const EventMapper mapper(config);
  EXPECT_EQ(mapper.Map(Row(), EventOrigin::Message("outbox")).cloudevents_source, "/outbox/message");
}

}  // namespace
}  // namespace outbox_relay::outbox
