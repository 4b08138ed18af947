#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/topic_template.hpp"
#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"

namespace outbox_relay::outbox {

/// The outbox table's shape does not match the configuration (a configuration problem found
/// against the live table).
class TableShapeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where events come from: an outbox table, or logical messages with one prefix. For a
/// message, `schema` is the prefix and `table` is "message", which is what {schema} and
/// {table} in a topic template stand for.
struct EventOrigin {
  std::string schema;
  std::string table;
  std::string source;  // the `source` header: "table:<schema>.<table>" or "message:<prefix>"
  bool message = false;

  static EventOrigin Table(const config::TableName& table);
  static EventOrigin Message(std::string_view prefix);
};

/// Field names of the JSON that outbox.publish_message() emits: Debezium's column names.
inline const config::OutboxColumns kMessageFields{};

/// A column the Kafka key is read from, and the configuration key that chose it.
struct KeyColumn {
  std::string name;
  std::string config_key;
};

/// Column values of one outbox row, as text; nullopt is SQL NULL.
struct OutboxRowValues {
  std::optional<std::string_view> id;
  std::optional<std::string_view> aggregate_type;
  std::optional<std::string_view> aggregate_id;
  std::optional<std::string_view> type;
  std::optional<std::string_view> payload;
  std::optional<std::string_view> headers;
  // The key column's value for each routing rule, outbox default last (EventMapper::KeyColumns).
  std::vector<std::optional<std::string_view>> keys;
  // The payload is known to be JSON (a json or jsonb column, which PostgreSQL validated).
  bool payload_is_json = false;
};

/// Where each outbox column sits in a relation's column list; headers and payload optional.
struct OutboxRowLayout {
  std::size_t id = 0;
  std::size_t aggregate_type = 0;
  std::size_t aggregate_id = 0;
  std::size_t type = 0;
  std::optional<std::size_t> payload;
  std::optional<std::size_t> headers;
  std::vector<std::optional<std::size_t>> keys;  // per rule; nullopt where the rule cannot apply
  std::size_t column_count = 0;
  bool payload_is_json = false;  // set by the caller when it knows the payload column's type

  /// Throws TableShapeError naming the missing column and the configuration key.
  static OutboxRowLayout Resolve(const config::OutboxColumns& columns,
                                 const std::vector<std::string_view>& relation_columns,
                                 const std::vector<std::optional<KeyColumn>>& key_columns);

  /// Picks the outbox values out of one row; `column(i)` gives column i's text or nullopt
  /// for NULL. One extraction for pgoutput inserts, logical messages and replayed rows.
  template <typename ColumnText>
  OutboxRowValues Values(ColumnText&& column) const {
    const auto optional = [&column](std::optional<std::size_t> index) -> std::optional<std::string_view> {
      if (!index) return std::nullopt;
      return column(*index);
    };
    OutboxRowValues row{column(id),   column(aggregate_type), column(aggregate_id),
                        column(type), optional(payload),      optional(headers),
                        {},           payload_is_json};
    row.keys.reserve(keys.size());
    for (const auto& key : keys) row.keys.push_back(optional(key));
    return row;
  }
};

/// Turns outbox rows into events: routing (rules, topic template, key, format) and header
/// extraction. Pure.
class EventMapper {
 public:
  /// `exchange`: the RabbitMQ exchange template of events no rule gives one (empty: events
  /// carry no exchange, as for Kafka).
  explicit EventMapper(const config::OutboxConfig& config, std::string_view exchange = {});

  /// The column each rule reads the key from for events of `origin`, in rule order with the
  /// outbox default last; nullopt for a rule whose source matcher excludes `origin`.
  std::vector<std::optional<KeyColumn>> KeyColumns(const EventOrigin& origin) const;

  /// The column names `origin`'s rows use: outbox.columns for tables, kMessageFields for
  /// messages.
  const config::OutboxColumns& Columns(const EventOrigin& origin) const;

  /// Throws PoisonRowError if the row cannot be published as configured, with the reason and
  /// what is known of the row (no commit LSN: the caller knows it). `row.keys` must come from a
  /// layout resolved with KeyColumns(origin).
  OutboxEvent Map(const OutboxRowValues& row, const EventOrigin& origin) const;

 private:
  struct Route {
    config::RouteConfig rule;  // matchers; an empty rule (the outbox default) matches anything
    config::TopicTemplate topic;
    std::string key;  // empty: the origin's aggregate id column
    std::string key_config;
    config::EventFormat format;
    std::string topic_config;
    std::optional<config::TopicTemplate> exchange;
    std::string exchange_config;
  };

  const Route& Select(const EventOrigin& origin, std::string_view aggregate_type, std::string_view type,
                      std::size_t& index) const;

  config::OutboxColumns columns_;
  std::string cloudevents_source_;
  std::vector<Route> routes_;
};

}  // namespace outbox_relay::outbox
