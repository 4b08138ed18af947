// The event-to-AMQP-message layout (sinks/amqp_message.hpp): properties, headers, routing.

#include "sinks/amqp_message.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"

namespace outbox_relay::sinks {
namespace {

using ::testing::Contains;
using ::testing::Not;
using ::testing::Optional;
using ::testing::Pair;

const AmqpRouting kRouting{"outbox.dlx", "", "correlation_id"};

outbox::OutboxEvent AmqpEvent(config::EventFormat format) {
  outbox::OutboxEvent event;
  event.id = "7f1c";
  event.aggregate_type = "Order";
  event.aggregate_id = "order-1";
  event.type = "OrderCreated";
  event.payload = R"({"total": 12})";
  event.headers = {{"correlation_id", "saga-9"}, {"trace", "abc"}};
  event.topic = "outbox.event.Order";
  event.exchange = "orders";
  event.key = "order-1";
  event.source = "table:public.outbox";
  event.cloudevents_source = "/public/outbox";
  event.commit_lsn = "16/B374D848";
  event.time = "2024-05-01T12:34:56.123456Z";
  event.format = format;
  return event;
}

TEST(AmqpMessageTest, PayloadFormatKeepsMetadataInPropertiesAndHeaders) {
  const AmqpMessage message = MessageOfEvent(AmqpEvent(config::EventFormat::kPayload), kRouting, 42);
  EXPECT_EQ(message.exchange, "orders");
  EXPECT_EQ(message.routing_key, "outbox.event.Order");
  EXPECT_THAT(message.body, Optional(std::string(R"({"total": 12})")));
  EXPECT_EQ(message.content_type, "application/json");
  EXPECT_EQ(message.message_id, "7f1c");
  EXPECT_EQ(message.type, "OrderCreated");
  EXPECT_EQ(message.correlation_id, "saga-9");
  EXPECT_THAT(message.timestamp, Optional(1714566896u));  // date -d 2024-05-01T12:34:56Z +%s
  EXPECT_THAT(message.headers, Contains(Pair("commit_lsn", "16/B374D848")));
  EXPECT_THAT(message.headers, Contains(Pair("source", "table:public.outbox")));
  EXPECT_THAT(message.headers, Contains(Pair("trace", "abc")));
  EXPECT_THAT(message.headers, Contains(Pair("key", "order-1")));
  EXPECT_EQ(message.tag, 42u);
  EXPECT_EQ(message.bytes, std::string("order-1").size() + std::string(R"({"total": 12})").size());
}

TEST(AmqpMessageTest, CloudEventsBinaryUsesTheAmqpBindingPrefixAndContentTypeProperty) {
  const AmqpMessage message = MessageOfEvent(AmqpEvent(config::EventFormat::kCloudEventsBinary), kRouting, 1);
  EXPECT_THAT(message.headers, Contains(Pair("cloudEvents_id", "7f1c")));
  EXPECT_THAT(message.headers, Contains(Pair("cloudEvents_specversion", "1.0")));
  EXPECT_THAT(message.headers, Contains(Pair("cloudEvents_type", "OrderCreated")));
  for (const auto& [name, value] : message.headers) {
    EXPECT_FALSE(name.starts_with("ce_")) << name;
    EXPECT_NE(name, "content-type") << "content type is a property in AMQP";
  }
  EXPECT_EQ(message.content_type, "application/json");
  const AmqpMessage structured =
      MessageOfEvent(AmqpEvent(config::EventFormat::kCloudEventsStructured), kRouting, 1);
  EXPECT_EQ(structured.content_type.rfind("application/cloudevents+json", 0), 0u) << structured.content_type;
}

TEST(AmqpMessageTest, StreamGoesThroughTheDefaultExchange) {
  AmqpRouting stream = kRouting;
  stream.stream = "outbox-stream";
  const AmqpMessage message = MessageOfEvent(AmqpEvent(config::EventFormat::kPayload), stream, 1);
  EXPECT_EQ(message.exchange, "");
  EXPECT_EQ(message.routing_key, "outbox-stream");
}

TEST(AmqpMessageTest, NullPayloadHasNoBodyAndNoContentType) {
  outbox::OutboxEvent event = AmqpEvent(config::EventFormat::kPayload);
  event.payload.reset();
  event.headers.clear();
  const AmqpMessage message = MessageOfEvent(event, kRouting, 1);
  EXPECT_EQ(message.body, std::nullopt);
  EXPECT_EQ(message.content_type, "");
  EXPECT_EQ(message.correlation_id, "") << "no such header, no correlation id";
}

TEST(AmqpMessageTest, DeadLetterCarriesTheReasonHeadersToTheDeadLetterExchange) {
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kMissingKey;
  poison.detail = "aggregate id is NULL or empty";
  poison.source = "table:public.outbox";
  poison.id = "9";
  poison.commit_lsn = "0/1A2B3C8";
  poison.value = "{}";
  const AmqpMessage message = MessageOfPoison(poison, "dead", kRouting, 5);
  EXPECT_EQ(message.exchange, "outbox.dlx");
  EXPECT_EQ(message.routing_key, "dead");
  EXPECT_THAT(message.dead_letter, Optional(outbox::PoisonReason::kMissingKey));
  EXPECT_THAT(message.headers, Contains(Pair("__outbox_relay.errors.reason", "missing_key")));
  EXPECT_THAT(message.headers, Contains(Pair("__outbox_relay.errors.commit_lsn", "0/1A2B3C8")));
  EXPECT_THAT(message.headers, Not(Contains(Pair("key", ::testing::_))));
  EXPECT_EQ(message.message_id, "9");
}

TEST(AmqpMessageTest, AReturnedMessageBecomesAnUnroutablePoisonRow) {
  const AmqpMessage message = MessageOfEvent(AmqpEvent(config::EventFormat::kPayload), kRouting, 1);
  const outbox::PoisonRow row = UnroutableRow(message, "312 NO_ROUTE");
  EXPECT_EQ(row.reason, outbox::PoisonReason::kUnroutable);
  EXPECT_EQ(row.id, "7f1c");
  EXPECT_EQ(row.commit_lsn, "16/B374D848");
  EXPECT_EQ(row.topic, "outbox.event.Order");
  EXPECT_THAT(row.key, Optional(std::string("order-1")));
  EXPECT_EQ(row.value, message.body);
  EXPECT_THAT(row.detail, ::testing::HasSubstr("312 NO_ROUTE"));
  EXPECT_THAT(row.detail, ::testing::HasSubstr("\"orders\""));
}

TEST(AmqpMessageTest, EpochSecondsReadsOnlyRfc3339Utc) {
  EXPECT_THAT(EpochSeconds("1970-01-01T00:00:00Z"), Optional(0u));
  EXPECT_THAT(EpochSeconds("2000-01-01T00:00:00.000001Z"), Optional(946684800u));
  EXPECT_EQ(EpochSeconds(""), std::nullopt);
  EXPECT_EQ(EpochSeconds("2024-02-30T00:00:00Z"), std::nullopt);
  EXPECT_EQ(EpochSeconds("2024-05-01 12:34:56Z"), std::nullopt);
  EXPECT_EQ(EpochSeconds("2024-05-01T12:34:56+02:00"), std::nullopt);
}

}  // namespace
}  // namespace outbox_relay::sinks
