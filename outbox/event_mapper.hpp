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

namespace outbox_relay::outbox {

/// A row that cannot become an event (NULL key, bad headers JSON, illegal topic). The message
/// names the column; the caller adds table, row id and LSN.
class PoisonRowError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The outbox table's shape does not match outbox.columns (a configuration problem found
/// against the live table).
class TableShapeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Column values of one outbox row, as text; nullopt is SQL NULL.
struct OutboxRowValues {
  std::optional<std::string_view> id;
  std::optional<std::string_view> aggregate_type;
  std::optional<std::string_view> aggregate_id;
  std::optional<std::string_view> type;
  std::optional<std::string_view> payload;
  std::optional<std::string_view> headers;
};

/// Where each outbox column sits in a relation's column list; headers and payload optional.
struct OutboxRowLayout {
  std::size_t id = 0;
  std::size_t aggregate_type = 0;
  std::size_t aggregate_id = 0;
  std::size_t type = 0;
  std::optional<std::size_t> payload;
  std::optional<std::size_t> headers;
  std::size_t column_count = 0;

  /// Throws TableShapeError naming the missing column and the outbox.columns.* key.
  static OutboxRowLayout Resolve(const config::OutboxColumns& columns,
                                 const std::vector<std::string_view>& relation_columns);
};

/// Turns outbox rows into events: routing (topic template) and header extraction. Pure.
class EventMapper {
 public:
  explicit EventMapper(const config::OutboxConfig& config);

  /// Throws PoisonRowError if the row cannot be published as configured.
  OutboxEvent Map(const OutboxRowValues& row) const;

 private:
  config::TopicTemplate topic_;
};

}  // namespace outbox_relay::outbox
