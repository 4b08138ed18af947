// The pure half of the inbox (inbox/inbox_record.cpp): what a record of each format carries,
// which handler applies it, and the batch element inbox.apply_batch() reads.

#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "inbox/inbox_record.hpp"

namespace outbox_relay::inbox {
namespace {

using config::EventFormat;
using nlohmann::json;

KafkaRecord Record(std::optional<std::string> value,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
  return KafkaRecord{"orders", 3, 41, std::string("order-7"), std::move(value), std::move(headers)};
}

InboxEvent Decoded(EventFormat format, const KafkaRecord& record) {
  auto decoded = DecodeRecord(format, record);
  if (const auto* why = std::get_if<Undecodable>(&decoded)) {
    ADD_FAILURE() << "undecodable: " << why->reason << ": " << why->detail;
    return {};
  }
  return std::get<InboxEvent>(std::move(decoded));
}

Undecodable Refused(EventFormat format, const KafkaRecord& record) {
  auto decoded = DecodeRecord(format, record);
  if (auto* why = std::get_if<Undecodable>(&decoded)) return *why;
  ADD_FAILURE() << "decoded an event with id " << std::get<InboxEvent>(decoded).id;
  return {};
}

TEST(InboxRecordTest, PayloadFormatTakesIdAndTypeFromTheHeaders) {
  const KafkaRecord record =
      Record(R"({"seats":2})", {{"id", "e-1"}, {"type", "OrderPlaced"}, {"trace", "t1"}, {"trace", "t2"}});
  const InboxEvent event = Decoded(EventFormat::kPayload, record);
  EXPECT_EQ(event.id, "e-1");
  EXPECT_EQ(event.type, "OrderPlaced");
  EXPECT_EQ(event.key, "order-7");
  EXPECT_EQ(event.payload, json({{"seats", 2}}));
  EXPECT_EQ(event.headers["trace"], "t2") << "a repeated header: the last one, as Kafka clients read it";
  EXPECT_EQ(event.headers["id"], "e-1");
}

TEST(InboxRecordTest, CloudEventsBinaryReadsTheCePrefixedHeaders) {
  const KafkaRecord record = Record(R"([1,2])", {{"ce_id", "e-2"}, {"ce_type", "Shipped"}, {"id", "not-this"}});
  const InboxEvent event = Decoded(EventFormat::kCloudEventsBinary, record);
  EXPECT_EQ(event.id, "e-2");
  EXPECT_EQ(event.type, "Shipped");
  EXPECT_EQ(event.payload, json::array({1, 2}));
  EXPECT_EQ(Refused(EventFormat::kCloudEventsBinary, Record("{}", {{"id", "e-3"}})).reason, "missing_id");
}

TEST(InboxRecordTest, EnvelopeAndStructuredCloudEventsReadTheValue) {
  const InboxEvent envelope = Decoded(
      EventFormat::kEnvelope, Record(R"({"id":"e-4","type":"Paid","payload":{"amount":10},"data":"ignored"})"));
  EXPECT_EQ(envelope.id, "e-4");
  EXPECT_EQ(envelope.type, "Paid");
  EXPECT_EQ(envelope.payload, json({{"amount", 10}}));

  const InboxEvent cloud = Decoded(EventFormat::kCloudEventsStructured,
                                   Record(R"({"id":"e-5","type":"Paid","data":{"amount":11},"payload":1})"));
  EXPECT_EQ(cloud.id, "e-5");
  EXPECT_EQ(cloud.payload, json({{"amount", 11}}));

  const InboxEvent numeric_id = Decoded(EventFormat::kEnvelope, Record(R"({"id":12,"type":null})"));
  EXPECT_EQ(numeric_id.id, "12") << "a non-string id is used as its JSON text";
  EXPECT_EQ(numeric_id.type, "");
  EXPECT_TRUE(numeric_id.payload.is_null()) << "no payload field: null";
}

TEST(InboxRecordTest, RecordsWithoutAnIdOrWithoutJsonAreUndecodableWithAReason) {
  EXPECT_EQ(Refused(EventFormat::kPayload, Record("{}", {{"type", "T"}})).reason, "missing_id");
  EXPECT_EQ(Refused(EventFormat::kPayload, Record("{}", {{"id", ""}})).reason, "missing_id");
  EXPECT_EQ(Refused(EventFormat::kPayload, Record("{not json", {{"id", "e"}})).reason, "invalid_payload");
  EXPECT_EQ(Refused(EventFormat::kEnvelope, Record(R"({"type":"T"})")).reason, "missing_id");
  const Undecodable scalar = Refused(EventFormat::kEnvelope, Record("42"));
  EXPECT_EQ(scalar.reason, "invalid_payload");
  EXPECT_NE(scalar.detail.find("object"), std::string::npos) << scalar.detail;
}

TEST(InboxRecordTest, ATombstoneHasANullPayload) {
  const InboxEvent event = Decoded(EventFormat::kPayload, Record(std::nullopt, {{"id", "e-6"}}));
  EXPECT_EQ(event.id, "e-6");
  EXPECT_TRUE(event.payload.is_null());
  EXPECT_EQ(Refused(EventFormat::kEnvelope, Record(std::nullopt)).reason, "invalid_payload")
      << "an envelope tombstone carries no id";
}

TEST(InboxRecordTest, TheFirstMatchingHandlerRuleWins) {
  const std::vector<config::InboxHandlerConfig> handlers{
      {"orders", "OrderPlaced", "seats.on_placed"},
      {"orders", "", "seats.on_order"},
      {"payments", "", "billing.on_payment"},
  };
  ASSERT_NE(HandlerFor(handlers, "orders", "OrderPlaced"), nullptr);
  EXPECT_EQ(*HandlerFor(handlers, "orders", "OrderPlaced"), "seats.on_placed");
  EXPECT_EQ(*HandlerFor(handlers, "orders", "OrderCancelled"), "seats.on_order");
  EXPECT_EQ(*HandlerFor(handlers, "payments", "Anything"), "billing.on_payment");
  EXPECT_EQ(HandlerFor(handlers, "shipments", "OrderPlaced"), nullptr);
  EXPECT_EQ(HandlerFor({}, "orders", "OrderPlaced"), nullptr);
}

TEST(InboxRecordTest, PositionalIdNamesTheRecordsPlace) {
  EXPECT_EQ(PositionalId(Record("{}")), "kafka:orders/3/41");
}

TEST(InboxRecordTest, BatchElementCarriesPositionEventAndHandler) {
  const KafkaRecord record = Record(R"({"a":1})", {{"id", "e-7"}, {"type", "T"}});
  const InboxEvent event = Decoded(EventFormat::kPayload, record);
  const std::string handler = "seats.on_event";
  const json element = BatchElement(record, event, &handler);
  EXPECT_EQ(element, json::parse(R"({"topic":"orders","partition":3,"offset":41,"id":"e-7","type":"T",
      "key":"order-7","headers":{"id":"e-7","type":"T"},"payload":{"a":1},"handler":"seats.on_event"})"));

  KafkaRecord keyless = record;
  keyless.key.reset();
  const json recorded_only = BatchElement(keyless, Decoded(EventFormat::kPayload, keyless), nullptr);
  EXPECT_TRUE(recorded_only["key"].is_null());
  EXPECT_TRUE(recorded_only["handler"].is_null()) << "no handler: the id and position are recorded only";
}

}  // namespace
}  // namespace outbox_relay::inbox
