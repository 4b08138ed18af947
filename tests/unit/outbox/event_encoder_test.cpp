#include "outbox/event_encoder.hpp"

#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "tests/integration/support/cloudevents_check.hpp"

namespace outbox_relay::outbox {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using ::testing::Pair;

using cloudevents_check::BinaryProblems;
using cloudevents_check::StructuredProblems;
using config::EventFormat;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr EventFormat kAllFormats[] = {EventFormat::kPayload, EventFormat::kEnvelope,
                                       EventFormat::kCloudEventsBinary, EventFormat::kCloudEventsStructured};

// jsonb output keeps this spacing; a parse-and-dump would print {"a":1,"b":[1,2]}.
constexpr char kPayload[] = R"({"a": 1, "b": [1, 2]})";

// A complete live event with two row headers; tests change the fields they are about.
OutboxEvent Event(EventFormat format) {
  OutboxEvent event;
  event.id = "42";
  event.aggregate_type = "Order";
  event.aggregate_id = "order-7";
  event.type = "OrderCreated";
  event.payload = kPayload;
  event.headers = {{"trace", "abc"}, {"n", "5"}};
  event.topic = "outbox.event.Order";
  event.key = "customer-3";
  event.source = "table:public.outbox";
  event.cloudevents_source = "/public/outbox";
  event.format = format;
  event.commit_lsn = "16/B374D848";
  event.time = "2024-05-01T12:34:56.789012Z";
  return event;
}

// The same event as replayed: no commit LSN, a replay marker.
OutboxEvent Replayed(EventFormat format) {
  OutboxEvent event = Event(format);
  event.commit_lsn.clear();
  event.replay = "backfill-1";
  return event;
}

// What a consumer receives: an owning copy of the record EncodeEvent lays out.
struct Record {
  std::optional<std::string> value;
  Headers headers;
};

Record Encode(const OutboxEvent& event) {
  EncodedEvent encoded;
  EncodeEvent(event, encoded);
  return {encoded.value ? std::optional<std::string>(*encoded.value) : std::nullopt,
          Headers(encoded.headers.begin(), encoded.headers.end())};
}

// Names of `headers`, in order.
std::vector<std::string> Names(const Headers& headers) {
  std::vector<std::string> names;
  for (const auto& [name, value] : headers) names.push_back(name);
  return names;
}

// The checker's verdict on an encoded record of either CloudEvents mode.
std::vector<std::string> CloudEventsProblems(EventFormat format, const Record& encoded) {
  return format == EventFormat::kCloudEventsStructured ? StructuredProblems(encoded.value)
                                                       : BinaryProblems(encoded.headers);
}

// ---- Headers common to every format ------------------------------------------------------------

// Every format starts with id, type, aggregate_type, commit_lsn, source and ends with the row's
// headers in their order.
TEST(EventEncoderTest, EveryFormatFramesWithRelayAndRowHeaders) {
  for (const EventFormat format : kAllFormats) {
    const Headers headers = Encode(Event(format)).headers;
    ASSERT_GE(headers.size(), 7u);
    EXPECT_THAT(Headers(headers.begin(), headers.begin() + 5),
                ElementsAre(Pair("id", "42"), Pair("type", "OrderCreated"), Pair("aggregate_type", "Order"),
                            Pair("commit_lsn", "16/B374D848"), Pair("source", "table:public.outbox")))
        << static_cast<int>(format);
    EXPECT_THAT(Headers(headers.end() - 2, headers.end()), ElementsAre(Pair("trace", "abc"), Pair("n", "5")))
        << static_cast<int>(format);
  }
}

// A replayed event has no commit_lsn header and carries replay right after source.
TEST(EventEncoderTest, ReplayedEventHasReplayHeaderAndNoCommitLsn) {
  for (const EventFormat format : kAllFormats) {
    const Headers headers = Encode(Replayed(format)).headers;
    ASSERT_GE(headers.size(), 5u);
    EXPECT_THAT(Headers(headers.begin(), headers.begin() + 5),
                ElementsAre(Pair("id", "42"), Pair("type", "OrderCreated"), Pair("aggregate_type", "Order"),
                            Pair("source", "table:public.outbox"), Pair("replay", "backfill-1")))
        << static_cast<int>(format);
    for (const auto& [name, value] : headers) {
      EXPECT_NE(name, "commit_lsn") << static_cast<int>(format);
      EXPECT_NE(name, "ce_commitlsn") << static_cast<int>(format);
    }
  }
}

// Row headers that repeat a relay header name are passed on, not merged or dropped.
TEST(EventEncoderTest, RowHeadersArePassedOnAsTheyAre) {
  OutboxEvent event = Event(EventFormat::kPayload);
  event.headers = {{"id", "row-id"}, {"x", ""}};
  EXPECT_THAT(Encode(event).headers,
              ElementsAre(Pair("id", "42"), Pair("type", "OrderCreated"), Pair("aggregate_type", "Order"),
                          Pair("commit_lsn", "16/B374D848"), Pair("source", "table:public.outbox"),
                          Pair("id", "row-id"), Pair("x", "")));
}

// ---- payload ----------------------------------------------------------------------------------

// The value is the payload byte for byte; the headers are the common ones only.
TEST(EventEncoderTest, PayloadFormatIsPayloadVerbatim) {
  const Record encoded = Encode(Event(EventFormat::kPayload));
  EXPECT_THAT(encoded.value, Optional(std::string(kPayload)));
  EXPECT_THAT(Names(encoded.headers),
              ElementsAre("id", "type", "aggregate_type", "commit_lsn", "source", "trace", "n"));
}

// A NULL payload is a null value.
TEST(EventEncoderTest, PayloadFormatNullPayloadIsNullValue) {
  OutboxEvent event = Event(EventFormat::kPayload);
  event.payload = std::nullopt;
  EXPECT_EQ(Encode(event).value, std::nullopt);
}

// ---- envelope ---------------------------------------------------------------------------------

// The envelope is exactly these bytes, the payload inside unchanged.
TEST(EventEncoderTest, EnvelopeEmbedsPayloadBytes) {
  const Record encoded = Encode(Event(EventFormat::kEnvelope));
  EXPECT_THAT(encoded.value,
              Optional(std::string(R"({"id":"42","aggregate_type":"Order","aggregate_id":"order-7",)"
                                   R"("type":"OrderCreated","payload":{"a": 1, "b": [1, 2]}})")));
  EXPECT_THAT(Names(encoded.headers),
              ElementsAre("id", "type", "aggregate_type", "commit_lsn", "source", "trace", "n"));
}

// A NULL payload is JSON null in the envelope, which is still a record value.
TEST(EventEncoderTest, EnvelopeNullPayloadIsJsonNull) {
  OutboxEvent event = Event(EventFormat::kEnvelope);
  event.payload = std::nullopt;
  EXPECT_THAT(Encode(event).value,
              Optional(std::string(R"({"id":"42","aggregate_type":"Order","aggregate_id":"order-7",)"
                                   R"("type":"OrderCreated","payload":null})")));
}

// Quotes, backslashes, control characters are escaped; UTF-8 passes as it is; the text parses
// back to the original strings.
TEST(EventEncoderTest, EnvelopeEscapesStringFields) {
  OutboxEvent event = Event(EventFormat::kEnvelope);
  event.id = "say \"hi\"\nnext";
  event.aggregate_type = "Caf\xC3\xA9";
  event.aggregate_id = "snow\xE2\x98\x83\x01";
  event.type = "a\\b\t";
  const Record encoded = Encode(event);
  EXPECT_THAT(encoded.value, Optional(std::string("{\"id\":\"say \\\"hi\\\"\\nnext\","
                                                  "\"aggregate_type\":\"Caf\xC3\xA9\","
                                                  "\"aggregate_id\":\"snow\xE2\x98\x83\\u0001\","
                                                  "\"type\":\"a\\\\b\\t\","
                                                  "\"payload\":{\"a\": 1, \"b\": [1, 2]}}")));
  const auto parsed = nlohmann::json::parse(encoded.value.value_or(""));
  EXPECT_EQ(parsed.at("id"), event.id);
  EXPECT_EQ(parsed.at("aggregate_type"), event.aggregate_type);
  EXPECT_EQ(parsed.at("aggregate_id"), event.aggregate_id);
  EXPECT_EQ(parsed.at("type"), event.type);
}

// ---- cloudevents-binary -----------------------------------------------------------------------

// The value is the payload; the ce_* headers follow the common ones, before the row's.
TEST(EventEncoderTest, CloudEventsBinaryHeadersAndValue) {
  const Record encoded = Encode(Event(EventFormat::kCloudEventsBinary));
  EXPECT_THAT(encoded.value, Optional(std::string(kPayload)));
  EXPECT_THAT(encoded.headers,
              ElementsAre(Pair("id", "42"), Pair("type", "OrderCreated"), Pair("aggregate_type", "Order"),
                          Pair("commit_lsn", "16/B374D848"), Pair("source", "table:public.outbox"),
                          Pair("ce_specversion", "1.0"), Pair("ce_id", "42"), Pair("ce_source", "/public/outbox"),
                          Pair("ce_type", "OrderCreated"), Pair("ce_subject", "order-7"),
                          Pair("ce_time", "2024-05-01T12:34:56.789012Z"), Pair("content-type", "application/json"),
                          Pair("ce_aggregatetype", "Order"), Pair("ce_commitlsn", "16/B374D848"),
                          Pair("trace", "abc"), Pair("n", "5")));
}

// With no payload the record has no value (the binding's CloudEvent without data); without a
// time or commit LSN those attributes are left out rather than sent empty.
TEST(EventEncoderTest, CloudEventsBinaryLeavesOutWhatIsMissing) {
  OutboxEvent event = Replayed(EventFormat::kCloudEventsBinary);
  event.payload = std::nullopt;
  event.time.clear();
  event.headers.clear();
  const Record encoded = Encode(event);
  EXPECT_EQ(encoded.value, std::nullopt);
  EXPECT_THAT(Names(encoded.headers),
              ElementsAre("id", "type", "aggregate_type", "source", "replay", "ce_specversion", "ce_id",
                          "ce_source", "ce_type", "ce_subject", "content-type", "ce_aggregatetype"));
}

// ---- cloudevents-structured -------------------------------------------------------------------

// The value is exactly this CloudEvent, data holding the payload's bytes; content-type follows
// the common headers.
TEST(EventEncoderTest, CloudEventsStructuredValueAndHeaders) {
  const Record encoded = Encode(Event(EventFormat::kCloudEventsStructured));
  EXPECT_THAT(encoded.value,
              Optional(std::string(R"({"specversion":"1.0","id":"42","source":"/public/outbox",)"
                                   R"("type":"OrderCreated","subject":"order-7",)"
                                   R"("time":"2024-05-01T12:34:56.789012Z",)"
                                   R"("datacontenttype":"application/json","aggregatetype":"Order",)"
                                   R"("commitlsn":"16/B374D848","data":{"a": 1, "b": [1, 2]}})")));
  EXPECT_THAT(encoded.headers,
              ElementsAre(Pair("id", "42"), Pair("type", "OrderCreated"), Pair("aggregate_type", "Order"),
                          Pair("commit_lsn", "16/B374D848"), Pair("source", "table:public.outbox"),
                          Pair("content-type", "application/cloudevents+json; charset=UTF-8"),
                          Pair("trace", "abc"), Pair("n", "5")));
}

// With no payload there is no data member, and no time or commitlsn when those are unknown.
TEST(EventEncoderTest, CloudEventsStructuredLeavesOutWhatIsMissing) {
  OutboxEvent event = Replayed(EventFormat::kCloudEventsStructured);
  event.payload = std::nullopt;
  event.time.clear();
  EXPECT_THAT(Encode(event).value,
              Optional(std::string(R"({"specversion":"1.0","id":"42","source":"/public/outbox",)"
                                   R"("type":"OrderCreated","subject":"order-7",)"
                                   R"("datacontenttype":"application/json","aggregatetype":"Order"})")));
}

// Attribute strings are JSON-escaped and parse back to the event's values.
TEST(EventEncoderTest, CloudEventsStructuredEscapesAttributes) {
  OutboxEvent event = Event(EventFormat::kCloudEventsStructured);
  event.id = "q\"\n\xE2\x98\x83";
  event.type = "t\\";
  event.aggregate_id = "a\x1F";
  const auto parsed = nlohmann::json::parse(Encode(event).value.value_or(""));
  EXPECT_EQ(parsed.at("id"), event.id);
  EXPECT_EQ(parsed.at("type"), event.type);
  EXPECT_EQ(parsed.at("subject"), event.aggregate_id);
  EXPECT_THAT(Encode(event).value.value_or(""), HasSubstr("\"id\":\"q\\\"\\n\xE2\x98\x83\",\"source\""));
}

// ---- The CloudEvents rules ---------------------------------------------------------------------

// Both modes satisfy the spec's rules whatever is present or missing, escaping included.
TEST(EventEncoderTest, CloudEventsRecordsPassTheSpecChecks) {
  for (const EventFormat format : {EventFormat::kCloudEventsBinary, EventFormat::kCloudEventsStructured}) {
    OutboxEvent live = Event(format);
    OutboxEvent replayed = Replayed(format);
    replayed.payload = std::nullopt;
    replayed.time.clear();
    OutboxEvent awkward = Event(format);
    awkward.id = "q\"\n\xE2\x98\x83";
    awkward.time = "2024-05-01T12:34:56+02:00";
    for (const OutboxEvent& event : {live, replayed, awkward}) {
      EXPECT_THAT(CloudEventsProblems(format, Encode(event)), IsEmpty())
          << static_cast<int>(format) << " id " << event.id;
    }
  }
}

// The checker is not a rubber stamp: each broken structured CloudEvent is rejected for its fault.
TEST(EventEncoderTest, CloudEventsCheckRejectsBrokenStructuredEvents) {
  const auto valid =
      nlohmann::ordered_json::parse(Encode(Event(EventFormat::kCloudEventsStructured)).value.value_or(""));
  ASSERT_THAT(StructuredProblems(valid.dump()), IsEmpty());
  auto broken = [&](auto change) {
    nlohmann::ordered_json event = valid;
    change(event);
    return StructuredProblems(event.dump());
  };
  EXPECT_THAT(broken([](auto& event) { event.erase("id"); }),
              Contains(HasSubstr("required attribute id is missing")));
  EXPECT_THAT(broken([](auto& event) { event["source"] = ""; }),
              Contains(HasSubstr("attribute source is not a non-empty string")));
  EXPECT_THAT(broken([](auto& event) { event["source"] = "not a uri"; }),
              Contains(HasSubstr("source is not a URI-reference")));
  EXPECT_THAT(broken([](auto& event) { event["type"] = 7; }),
              Contains(HasSubstr("attribute type is not a non-empty string")));
  EXPECT_THAT(broken([](auto& event) { event["specversion"] = "0.3"; }),
              Contains(HasSubstr("specversion is not 1.0")));
  EXPECT_THAT(broken([](auto& event) { event["aggregate_type"] = "Order"; }),
              Contains(HasSubstr("attribute name aggregate_type is not [a-z0-9]+")));
  EXPECT_THAT(broken([](auto& event) { event["time"] = "2024-05-01 12:34:56"; }),
              Contains(HasSubstr("time is not RFC 3339")));
  EXPECT_THAT(broken([](auto& event) { event.erase("datacontenttype"); }),
              Contains(HasSubstr("datacontenttype is not application/json")));
  EXPECT_THAT(StructuredProblems(std::nullopt), Contains(HasSubstr("has a value")));
}

// ... and each broken binary record's headers are rejected too.
TEST(EventEncoderTest, CloudEventsCheckRejectsBrokenBinaryHeaders) {
  const Headers valid = Encode(Event(EventFormat::kCloudEventsBinary)).headers;
  ASSERT_THAT(BinaryProblems(valid), IsEmpty());
  auto with = [&](const std::string& name, const std::string& value) {
    Headers headers = valid;
    headers.emplace_back(name, value);
    return BinaryProblems(headers);
  };
  auto without = [&](const std::string& name) {
    Headers headers;
    for (const auto& header : valid) {
      if (header.first != name) headers.push_back(header);
    }
    return BinaryProblems(headers);
  };
  EXPECT_THAT(without("ce_type"), Contains(HasSubstr("required attribute type is missing")));
  EXPECT_THAT(without("ce_specversion"), Contains(HasSubstr("required attribute specversion is missing")));
  EXPECT_THAT(with("ce_id", "other"), Contains(HasSubstr("attribute id appears twice")));
  EXPECT_THAT(with("ce_Trace", "x"), Contains(HasSubstr("attribute name Trace is not [a-z0-9]+")));
  Headers structured_type = valid;
  for (auto& [name, value] : structured_type) {
    if (name == "content-type") value = "application/cloudevents+json";
  }
  EXPECT_THAT(BinaryProblems(structured_type), Contains(HasSubstr("CloudEvents media type")));
  Headers bad_time = valid;
  for (auto& [name, value] : bad_time) {
    if (name == "ce_time") value = "2024-05-01";
  }
  EXPECT_THAT(BinaryProblems(bad_time), Contains(HasSubstr("time is not RFC 3339")));
}

}  // namespace
}  // namespace outbox_relay::outbox
