#include "outbox/event_mapper.hpp"

#include <utility>

#include <nlohmann/json.hpp>

namespace outbox_relay::outbox {

namespace {

std::optional<std::size_t> FindColumn(const std::vector<std::string_view>& columns,
                                      std::string_view name) {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

std::size_t RequireColumn(const std::vector<std::string_view>& columns, const std::string& name,
                          const char* key) {
  if (auto index = FindColumn(columns, name)) return *index;
  throw TableShapeError("outbox table has no column \"" + name + "\"; set outbox.columns." + key +
                        " to the column's name");
}

std::string_view RequireValue(const std::optional<std::string_view>& value, const char* column) {
  if (!value || value->empty()) {
    throw PoisonRowError(std::string(column) + " is NULL or empty");
  }
  return *value;
}

// Header values travel as bytes; strings go as they are so consumers need not unquote them.
std::vector<std::pair<std::string, std::string>> ParseHeaders(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw PoisonRowError("headers column is not valid JSON");
  if (json.is_null()) return {};
  if (!json.is_object()) throw PoisonRowError("headers column is not a JSON object");
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(json.size());
  for (const auto& [key, value] : json.items()) {
    headers.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return headers;
}

}  // namespace

OutboxRowLayout OutboxRowLayout::Resolve(const config::OutboxColumns& columns,
                                         const std::vector<std::string_view>& relation_columns) {
  OutboxRowLayout layout;
  layout.id = RequireColumn(relation_columns, columns.id, "id");
  layout.aggregate_type = RequireColumn(relation_columns, columns.aggregate_type, "aggregate_type");
  layout.aggregate_id = RequireColumn(relation_columns, columns.aggregate_id, "aggregate_id");
  layout.type = RequireColumn(relation_columns, columns.type, "type");
  layout.payload = FindColumn(relation_columns, columns.payload);
  layout.headers = FindColumn(relation_columns, columns.headers);
  layout.column_count = relation_columns.size();
  return layout;
}

EventMapper::EventMapper(const config::OutboxConfig& config) : topic_(config.topic) {}

OutboxEvent EventMapper::Map(const OutboxRowValues& row) const {
  OutboxEvent event;
  event.id = RequireValue(row.id, "id");
  event.aggregate_type = RequireValue(row.aggregate_type, "aggregate type");
  event.aggregate_id = RequireValue(row.aggregate_id, "aggregate id");
  event.type = RequireValue(row.type, "type");
  if (row.payload) event.payload.emplace(*row.payload);
  if (row.headers) event.headers = ParseHeaders(*row.headers);
  std::optional<std::string> topic = topic_.Render(event.aggregate_type, event.type);
  if (!topic) {
    throw PoisonRowError("topic \"" + topic_.Substitute(event.aggregate_type, event.type) +
                         "\" is not a legal Kafka topic name (1-249 of [a-zA-Z0-9._-], not "
                         "\".\" or \"..\"); check the aggregate type and type values or "
                         "outbox.topic");
  }
  event.topic = std::move(*topic);
  return event;
}

}  // namespace outbox_relay::outbox
