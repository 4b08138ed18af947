#include "outbox/event_mapper.hpp"

#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace outbox_relay::outbox {

namespace {

std::optional<std::size_t> FindColumn(const std::vector<std::string_view>& columns, std::string_view name) {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

std::size_t RequireColumn(const std::vector<std::string_view>& columns, const std::string& name,
                          const std::string& config_key) {
  if (auto index = FindColumn(columns, name)) return *index;
  throw TableShapeError("outbox table has no column \"" + name + "\"; set " + config_key +
                        " to the column's name");
}

// What a poison error reports about `row`: the columns known before routing.
PoisonRow KnownOf(const OutboxRowValues& row, const EventOrigin& origin, PoisonReason reason, std::string detail) {
  PoisonRow poison;
  poison.reason = reason;
  poison.detail = std::move(detail);
  poison.source = origin.source;
  poison.id = std::string(row.id.value_or(""));
  if (row.payload) poison.value.emplace(*row.payload);
  return poison;
}

std::string_view RequireValue(const OutboxRowValues& row, const EventOrigin& origin,
                              const std::optional<std::string_view>& value, const char* column,
                              PoisonReason reason) {
  if (!value || value->empty()) {
    throw PoisonRowError(KnownOf(row, origin, reason, std::string(column) + " is NULL or empty"));
  }
  return *value;
}

// Header values travel as bytes; strings go as they are so consumers need not unquote them.
// JSON null means no headers. Returns what is wrong with `text` instead when it is not a JSON object.
std::variant<std::vector<std::pair<std::string, std::string>>, const char*> ParseHeaders(std::string_view text) {
  auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return "headers column is not valid JSON";
  if (!json.is_null() && !json.is_object()) return "headers column is not a JSON object";
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(json.size());
  for (const auto& [key, value] : json.items()) {
    headers.emplace_back(key, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return headers;
}

// The formats that write the payload into a JSON document, where non-JSON bytes would make the
// whole record unreadable.
bool EmbedsPayloadAsJson(config::EventFormat format) {
  switch (format) {
    case config::EventFormat::kEnvelope:
    case config::EventFormat::kCloudEventsStructured:
      return true;
    case config::EventFormat::kPayload:
    case config::EventFormat::kCloudEventsBinary:
      return false;
  }
  return false;
}

bool Matches(const std::string& matcher, std::string_view value) { return matcher.empty() || matcher == value; }

}  // namespace

EventOrigin EventOrigin::Table(const config::TableName& table) {
  return {table.schema, table.name, "table:" + table.Qualified(), false};
}

EventOrigin EventOrigin::Message(std::string_view prefix) {
  return {std::string(prefix), "message", "message:" + std::string(prefix), true};
}

OutboxRowLayout OutboxRowLayout::Resolve(const config::OutboxColumns& columns,
                                         const std::vector<std::string_view>& relation_columns,
                                         const std::vector<std::optional<KeyColumn>>& key_columns) {
  OutboxRowLayout layout;
  layout.id = RequireColumn(relation_columns, columns.id, "outbox.columns.id");
  layout.aggregate_type = RequireColumn(relation_columns, columns.aggregate_type, "outbox.columns.aggregate_type");
  layout.aggregate_id = RequireColumn(relation_columns, columns.aggregate_id, "outbox.columns.aggregate_id");
  layout.type = RequireColumn(relation_columns, columns.type, "outbox.columns.type");
  layout.payload = FindColumn(relation_columns, columns.payload);
  layout.headers = FindColumn(relation_columns, columns.headers);
  layout.keys.reserve(key_columns.size());
  for (const auto& key : key_columns) {
    layout.keys.push_back(key ? std::optional(RequireColumn(relation_columns, key->name, key->config_key))
                              : std::nullopt);
  }
  layout.column_count = relation_columns.size();
  return layout;
}

EventMapper::EventMapper(const config::OutboxConfig& config, std::string_view exchange)
    : columns_(config.columns), cloudevents_source_(config.cloudevents_source) {
  const auto add = [this, &config, exchange](const config::RouteConfig& rule, const std::string& where) {
    const std::string& topic = rule.topic.empty() ? config.topic : rule.topic;
    const std::string& key = rule.key.empty() ? config.key : rule.key;
    const std::string_view exchange_pattern = rule.exchange.empty() ? exchange : rule.exchange;
    routes_.push_back(Route{
        rule, config::TopicTemplate(topic), key,
        !rule.key.empty() ? where + ".key"
        : !key.empty()    ? std::string("outbox.key")
                          : std::string(),
        rule.format.value_or(config.format), rule.topic.empty() ? std::string("outbox.topic") : where + ".topic",
        exchange_pattern.empty() ? std::nullopt : std::optional(config::TopicTemplate(exchange_pattern)),
        rule.exchange.empty() ? std::string("rabbitmq.exchange") : where + ".exchange"});
  };
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    add(config.routes[i], "outbox.routes[" + std::to_string(i) + "]");
  }
  add(config::RouteConfig{}, "outbox");
}

const config::OutboxColumns& EventMapper::Columns(const EventOrigin& origin) const {
  return origin.message ? kMessageFields : columns_;
}

std::vector<std::optional<KeyColumn>> EventMapper::KeyColumns(const EventOrigin& origin) const {
  std::vector<std::optional<KeyColumn>> keys;
  keys.reserve(routes_.size());
  for (const Route& route : routes_) {
    if (!Matches(route.rule.source, origin.source)) {
      keys.emplace_back(std::nullopt);
    } else if (route.key.empty()) {
      keys.emplace_back(KeyColumn{Columns(origin).aggregate_id, "outbox.columns.aggregate_id"});
    } else {
      keys.emplace_back(KeyColumn{route.key, route.key_config});
    }
  }
  return keys;
}

const EventMapper::Route& EventMapper::Select(const EventOrigin& origin, std::string_view aggregate_type,
                                              std::string_view type, std::size_t& index) const {
  for (index = 0; index + 1 < routes_.size(); ++index) {
    const config::RouteConfig& rule = routes_[index].rule;
    if (Matches(rule.source, origin.source) && Matches(rule.aggregate_type, aggregate_type) &&
        Matches(rule.type, type)) {
      break;
    }
  }
  return routes_[index];
}

OutboxEvent EventMapper::Map(const OutboxRowValues& row, const EventOrigin& origin) const {
  OutboxEvent event;
  event.id = RequireValue(row, origin, row.id, "id", PoisonReason::kMissingField);
  event.aggregate_type =
      RequireValue(row, origin, row.aggregate_type, "aggregate type", PoisonReason::kMissingField);
  event.aggregate_id = RequireValue(row, origin, row.aggregate_id, "aggregate id", PoisonReason::kMissingKey);
  event.type = RequireValue(row, origin, row.type, "type", PoisonReason::kMissingField);

  std::size_t index = 0;
  const Route& route = Select(origin, event.aggregate_type, event.type, index);
  event.key = RequireValue(row, origin, row.keys.at(index), "message key", PoisonReason::kMissingKey);
  const config::TopicFields fields{event.aggregate_type, event.type, origin.schema, origin.table};
  // From here on the row is routed: a poison error also says where it was going.
  const auto poison = [&](PoisonReason reason, std::string detail, std::string topic) {
    PoisonRow known = KnownOf(row, origin, reason, std::move(detail));
    known.topic = std::move(topic);
    known.key = event.key;
    return PoisonRowError(std::move(known));
  };
  std::optional<std::string> topic = route.topic.Render(fields);
  if (!topic) {
    std::string illegal = route.topic.Substitute(fields);
    throw poison(PoisonReason::kInvalidTopic,
                 "topic \"" + illegal +
                     "\" is not a legal Kafka topic name (1-249 of [a-zA-Z0-9._-], not \".\" or "
                     "\"..\"); check the aggregate type and type values or " +
                     route.topic_config,
                 illegal);
  }
  event.topic = std::move(*topic);
  if (route.exchange) {
    std::optional<std::string> exchange = route.exchange->Render(fields);
    if (!exchange) {
      throw poison(
          PoisonReason::kInvalidTopic,
          "exchange \"" + route.exchange->Substitute(fields) +
              "\" is not a legal name (1-249 of [a-zA-Z0-9._-]); check the aggregate type and type values "
              "or " +
              route.exchange_config,
          event.topic);
    }
    event.exchange = std::move(*exchange);
  }
  if (row.headers) {
    auto headers = ParseHeaders(*row.headers);
    if (const char* const* problem = std::get_if<const char*>(&headers)) {
      throw poison(PoisonReason::kInvalidHeaders, *problem, event.topic);
    }
    event.headers = std::move(std::get<0>(headers));
  }
  if (row.payload) {
    if (!row.payload_is_json && EmbedsPayloadAsJson(route.format) && !nlohmann::json::accept(*row.payload)) {
      throw poison(PoisonReason::kInvalidJson,
                   "payload is not valid JSON, which the route's format embeds as JSON", event.topic);
    }
    event.payload.emplace(*row.payload);
  }
  event.format = route.format;
  event.source = origin.source;
  event.cloudevents_source =
      cloudevents_source_.empty() ? "/" + origin.schema + "/" + origin.table : cloudevents_source_;
  return event;
}

}  // namespace outbox_relay::outbox
