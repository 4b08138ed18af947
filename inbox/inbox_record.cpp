#include "inbox/inbox_record.hpp"

#include <string_view>

namespace outbox_relay::inbox {
namespace {

using config::EventFormat;
using nlohmann::json;

const std::string* Header(const KafkaRecord& record, std::string_view name) {
  const std::string* found = nullptr;
  for (const auto& [header, value] : record.headers) {
    if (header == name) found = &value;  // the last one, as Kafka clients read a repeated header
  }
  return found;
}

// The record's value as JSON: null for a tombstone, none when it is not JSON.
std::optional<json> ValueJson(const KafkaRecord& record) {
  if (!record.value) return json(nullptr);
  json value = json::parse(*record.value, nullptr, false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

std::string StringField(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

std::variant<InboxEvent, Undecodable> DecodeRecord(EventFormat format, const KafkaRecord& record) {
  InboxEvent event;
  event.key = record.key;
  for (const auto& [name, value] : record.headers) event.headers[name] = value;
  std::optional<json> value = ValueJson(record);
  if (!value) return Undecodable{"invalid_payload", "the value is not JSON"};

  switch (format) {
    case EventFormat::kPayload:
    case EventFormat::kCloudEventsBinary: {
      const bool cloud = format == EventFormat::kCloudEventsBinary;
      const std::string* id = Header(record, cloud ? "ce_id" : "id");
      const std::string* type = Header(record, cloud ? "ce_type" : "type");
      if (id == nullptr || id->empty()) {
        return Undecodable{"missing_id", std::string("no ") + (cloud ? "ce_id" : "id") + " header"};
      }
      event.id = *id;
      event.type = type == nullptr ? "" : *type;
      event.payload = std::move(*value);
      break;
    }
    case EventFormat::kEnvelope:
    case EventFormat::kCloudEventsStructured: {
      if (!value->is_object()) return Undecodable{"invalid_payload", "the value is not a JSON object"};
      event.id = StringField(*value, "id");
      if (event.id.empty()) return Undecodable{"missing_id", "the value has no id"};
      event.type = StringField(*value, "type");
      const char* payload_field = format == EventFormat::kEnvelope ? "payload" : "data";
      const auto payload = value->find(payload_field);
      event.payload = payload == value->end() ? json(nullptr) : std::move(*payload);
      break;
    }
  }
  return event;
}

const std::string* HandlerFor(const std::vector<config::InboxHandlerConfig>& handlers, const std::string& topic,
                              const std::string& type) {
  for (const config::InboxHandlerConfig& handler : handlers) {
    if (handler.topic == topic && (handler.type.empty() || handler.type == type)) return &handler.function;
  }
  return nullptr;
}

std::string PositionalId(const KafkaRecord& record) {
  return "kafka:" + record.topic + "/" + std::to_string(record.partition) + "/" + std::to_string(record.offset);
}

json BatchElement(const KafkaRecord& record, const InboxEvent& event, const std::string* handler) {
  return json{{"topic", record.topic},
              {"partition", record.partition},
              {"offset", record.offset},
              {"id", event.id},
              {"type", event.type},
              {"key", event.key ? json(*event.key) : json(nullptr)},
              {"headers", event.headers},
              {"payload", event.payload},
              {"handler", handler != nullptr ? json(*handler) : json(nullptr)}};
}

}  // namespace outbox_relay::inbox
