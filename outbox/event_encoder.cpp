// Record layout per format. Headers, in this fixed order:
//   1. the relay's own: id, type, aggregate_type, commit_lsn (unless empty, as on replay), source,
//      replay (only on replayed events);
//   2. the format's: cloudevents-binary adds the CloudEvent's attributes (see CloudEventAttributes
//      for their order) as ce_* headers, datacontenttype as content-type; cloudevents-structured
//      adds content-type: application/cloudevents+json; charset=UTF-8;
//   3. the row's headers, in their order.
//
// What this relies on from the mapper: id, type and aggregate id are non-empty (they are the
// CloudEvents id, type and subject, which must not be empty), cloudevents_source is a non-empty
// URI-reference, time is RFC 3339 or empty, and payload is JSON text (jsonb output), which the
// JSON formats embed byte for byte.
//
// The JSON formats escape strings with nlohmann, which throws nlohmann::json::type_error on text
// that is not UTF-8: such an event has no JSON representation.

#include "outbox/event_encoder.hpp"

#include <string_view>

#include <nlohmann/json.hpp>

namespace outbox_relay::outbox {

namespace {

constexpr char kJsonContentType[] = "application/json";
constexpr char kStructuredContentType[] = "application/cloudevents+json; charset=UTF-8";

// A JSON object written member by member, so that a payload goes in as the bytes PostgreSQL
// printed: parsing and dumping it again would change its spacing, key order and numbers.
class JsonObjectWriter {
 public:
  // Bytes that are not UTF-8 (possible from a SQL_ASCII database) become U+FFFD instead of
  // throwing: one odd character must not stop the relay.
  void AddString(std::string_view name, const std::string& value) {
    AddJson(name, nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  void AddJson(std::string_view name, std::string_view json_text) {
    if (text_.size() > 1) text_ += ',';
    text_ += '"';
    text_ += name;  // names are this file's literals, which need no escaping
    text_ += "\":";
    text_ += json_text;
  }

  std::string Finish() && {
    text_ += '}';
    return std::move(text_);
  }

 private:
  std::string text_ = "{";
};

std::string Envelope(const OutboxEvent& event) {
  JsonObjectWriter envelope;
  envelope.AddString("id", event.id);
  envelope.AddString("aggregate_type", event.aggregate_type);
  envelope.AddString("aggregate_id", event.aggregate_id);
  envelope.AddString("type", event.type);
  envelope.AddJson("payload", event.payload ? std::string_view(*event.payload) : "null");
  return std::move(envelope).Finish();
}

// The CloudEvent's context attributes (everything but data) in the one order both content modes
// write them. Optional attributes with no value are left out: the spec has no empty string for
// them. The extension names are [a-z0-9]+ as the spec requires, hence no underscores.
std::vector<std::pair<std::string_view, std::string>> CloudEventAttributes(const OutboxEvent& event) {
  std::vector<std::pair<std::string_view, std::string>> attributes = {
      {"specversion", "1.0"},
      {"id", event.id},
      {"source", event.cloudevents_source},
      {"type", event.type},
      {"subject", event.aggregate_id},
  };
  if (!event.time.empty()) attributes.emplace_back("time", event.time);
  attributes.emplace_back("datacontenttype", kJsonContentType);
  attributes.emplace_back("aggregatetype", event.aggregate_type);
  if (!event.commit_lsn.empty()) attributes.emplace_back("commitlsn", event.commit_lsn);
  return attributes;
}

// data goes last, so a reader sees the attributes before a payload of any size.
std::string StructuredCloudEvent(const OutboxEvent& event) {
  JsonObjectWriter cloud_event;
  for (const auto& [name, value] : CloudEventAttributes(event)) cloud_event.AddString(name, value);
  // A JSON datacontenttype means data holds the JSON value itself, not a string of it.
  if (event.payload) cloud_event.AddJson("data", *event.payload);
  return std::move(cloud_event).Finish();
}

void AddBinaryCloudEventHeaders(const OutboxEvent& event,
                                std::vector<std::pair<std::string, std::string>>& headers) {
  for (auto& [name, value] : CloudEventAttributes(event)) {
    // The Kafka binding carries datacontenttype as the record's content-type header.
    headers.emplace_back(name == "datacontenttype" ? "content-type" : "ce_" + std::string(name),
                         std::move(value));
  }
}

}  // namespace

EncodedEvent EncodeEvent(const OutboxEvent& event) {
  EncodedEvent encoded;
  auto& headers = encoded.headers;
  headers.emplace_back("id", event.id);
  headers.emplace_back("type", event.type);
  headers.emplace_back("aggregate_type", event.aggregate_type);
  if (!event.commit_lsn.empty()) headers.emplace_back("commit_lsn", event.commit_lsn);
  headers.emplace_back("source", event.source);
  if (!event.replay.empty()) headers.emplace_back("replay", event.replay);

  switch (event.format) {
    case config::EventFormat::kPayload:
      encoded.value = event.payload;
      break;
    case config::EventFormat::kEnvelope:
      encoded.value = Envelope(event);
      break;
    case config::EventFormat::kCloudEventsBinary:
      // A CloudEvent without data is a record without a value (a tombstone on compacted topics).
      encoded.value = event.payload;
      AddBinaryCloudEventHeaders(event, headers);
      break;
    case config::EventFormat::kCloudEventsStructured:
      encoded.value = StructuredCloudEvent(event);
      headers.emplace_back("content-type", kStructuredContentType);
      break;
  }

  headers.insert(headers.end(), event.headers.begin(), event.headers.end());
  return encoded;
}

}  // namespace outbox_relay::outbox
