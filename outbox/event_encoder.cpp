// Record layout per format. Headers, in this fixed order:
//   1. the relay's own: id, type, aggregate_type, commit_lsn (unless empty, as on replay), source,
//      replay (only on replayed events);
//   2. the format's: cloudevents-binary adds the CloudEvent's attributes (see ForEachCloudEventAttribute
//      for their order) as ce_* headers, datacontenttype as content-type; cloudevents-structured
//      adds content-type: application/cloudevents+json; charset=UTF-8;
//   3. the row's headers, in their order.
//
// What this relies on from the mapper: id, type and aggregate id are non-empty (they are the
// CloudEvents id, type and subject, which must not be empty), cloudevents_source is a non-empty
// URI-reference, time is RFC 3339 or empty, and payload is JSON text (jsonb output), which the
// JSON formats embed byte for byte.
//

#include "outbox/event_encoder.hpp"

#include <string_view>

#include <nlohmann/json.hpp>

namespace outbox_relay::outbox {

namespace {

constexpr char kJsonContentType[] = "application/json";
constexpr char kStructuredContentType[] = "application/cloudevents+json; charset=UTF-8";

// A JSON object written member by member into a reused string, so that a payload goes in as
// the bytes PostgreSQL printed: parsing and dumping it again would change its spacing, key
// order and numbers.
class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::string& text) : text_(text) {
    text_.clear();
    text_ += '{';
  }

  // Bytes that are not UTF-8 (possible from a SQL_ASCII database) become U+FFFD instead of
  // throwing: one odd character must not stop the relay.
  void AddString(std::string_view name, std::string_view value) {
    AddJson(name, nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  void AddJson(std::string_view name, std::string_view json_text) {
    if (text_.size() > 1) text_ += ',';
    text_ += '"';
    text_ += name;  // names are this file's literals, which need no escaping
    text_ += "\":";
    text_ += json_text;
  }

  void Finish() { text_ += '}'; }

 private:
  std::string& text_;
};

void Envelope(const OutboxEvent& event, std::string& text) {
  JsonObjectWriter envelope(text);
  envelope.AddString("id", event.id);
  envelope.AddString("aggregate_type", event.aggregate_type);
  envelope.AddString("aggregate_id", event.aggregate_id);
  envelope.AddString("type", event.type);
  envelope.AddJson("payload", event.payload ? std::string_view(*event.payload) : "null");
  envelope.Finish();
}

// One CloudEvents context attribute: its JSON member name (structured mode), its Kafka header
// name (binary mode), and its value.
struct Attribute {
  std::string_view name;
  std::string_view header;
  std::string_view value;
};

// The CloudEvent's context attributes (everything but data) in the one order both content modes
// write them. Optional attributes with no value are left out: the spec has no empty string for
// them. The extension names are [a-z0-9]+ as the spec requires, hence no underscores. The
// Kafka binding carries datacontenttype as the record's content-type header.
template <typename Visit>
void ForEachCloudEventAttribute(const OutboxEvent& event, Visit&& visit) {
  visit(Attribute{"specversion", "ce_specversion", "1.0"});
  visit(Attribute{"id", "ce_id", event.id});
  visit(Attribute{"source", "ce_source", event.cloudevents_source});
  visit(Attribute{"type", "ce_type", event.type});
  visit(Attribute{"subject", "ce_subject", event.aggregate_id});
  if (!event.time.empty()) visit(Attribute{"time", "ce_time", event.time});
  visit(Attribute{"datacontenttype", "content-type", kJsonContentType});
  visit(Attribute{"aggregatetype", "ce_aggregatetype", event.aggregate_type});
  if (!event.commit_lsn.empty()) visit(Attribute{"commitlsn", "ce_commitlsn", event.commit_lsn});
}

// data goes last, so a reader sees the attributes before a payload of any size.
void StructuredCloudEvent(const OutboxEvent& event, std::string& text) {
  JsonObjectWriter cloud_event(text);
  ForEachCloudEventAttribute(
      event, [&](const Attribute& attribute) { cloud_event.AddString(attribute.name, attribute.value); });
  // A JSON datacontenttype means data holds the JSON value itself, not a string of it.
  if (event.payload) cloud_event.AddJson("data", *event.payload);
  cloud_event.Finish();
}

std::optional<std::string_view> Payload(const OutboxEvent& event) {
  if (!event.payload) return std::nullopt;
  return *event.payload;
}

}  // namespace

void EncodeEvent(const OutboxEvent& event, EncodedEvent& record) {
  auto& headers = record.headers;
  headers.clear();
  headers.emplace_back("id", event.id);
  headers.emplace_back("type", event.type);
  headers.emplace_back("aggregate_type", event.aggregate_type);
  if (!event.commit_lsn.empty()) headers.emplace_back("commit_lsn", event.commit_lsn);
  headers.emplace_back("source", event.source);
  if (!event.replay.empty()) headers.emplace_back("replay", event.replay);

  switch (event.format) {
    case config::EventFormat::kPayload:
      record.value = Payload(event);
      break;
    case config::EventFormat::kEnvelope:
      Envelope(event, record.built);
      record.value = record.built;
      break;
    case config::EventFormat::kCloudEventsBinary:
      // A CloudEvent without data is a record without a value (a tombstone on compacted topics).
      record.value = Payload(event);
      ForEachCloudEventAttribute(event, [&headers](const Attribute& attribute) {
        headers.emplace_back(attribute.header, attribute.value);
      });
      break;
    case config::EventFormat::kCloudEventsStructured:
      StructuredCloudEvent(event, record.built);
      record.value = record.built;
      headers.emplace_back("content-type", kStructuredContentType);
      break;
  }

  for (const auto& [name, value] : event.headers) headers.emplace_back(name, value);
}

}  // namespace outbox_relay::outbox
