#include "relay/pipeline/transaction_assembler.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include <fmt/compile.h>
#include <nlohmann/json.hpp>

#include "base/logging.hpp"

namespace outbox_relay::pipeline {

namespace {

std::optional<std::string_view> ColumnText(const pg::InsertMessage& insert, std::size_t index,
                                           const std::string& table) {
  const auto& value = insert.values[index];
  switch (value.kind) {
    case pg::TupleValueKind::kNull:
      return std::nullopt;
    case pg::TupleValueKind::kText:
      return value.data;
    case pg::TupleValueKind::kUnchangedToast:
      // Only updates may omit unchanged TOAST values; in an insert it means a broken stream.
      throw pg::DecodeError("pgoutput Insert into " + table + ": column " + std::to_string(index) +
                            " sent as unchanged TOAST");
    case pg::TupleValueKind::kBinary:
      throw pg::DecodeError("pgoutput Insert into " + table + ": column " + std::to_string(index) +
                            " in binary format, which the relay did not request");
  }
  throw pg::DecodeError("pgoutput Insert: unknown tuple value kind");
}

}  // namespace

TransactionAssembler::TransactionAssembler(const config::OutboxConfig& config, std::string_view exchange)
    : config_(config), mapper_(config, exchange) {}

void TransactionAssembler::Reset() { relations_.clear(); }

TransactionAssembler::Step TransactionAssembler::Apply(const pg::PgOutputMessage& message) {
  return std::visit(
      [this](const auto& m) -> Step {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, pg::BeginMessage>) {
          commit_lsn_text_ = m.final_lsn.ToString();
          commit_time_text_ = FormatPgTimestamp(m.commit_time);
          return BeginStep{m.final_lsn, m.commit_time};
        } else if constexpr (std::is_same_v<T, pg::CommitMessage>) {
          return CommitStep{m.end_lsn, m.commit_time};
        } else if constexpr (std::is_same_v<T, pg::RelationMessage>) {
          return OnRelation(m);
        } else if constexpr (std::is_same_v<T, pg::InsertMessage>) {
          return OnInsert(m);
        } else if constexpr (std::is_same_v<T, pg::LogicalMessage>) {
          return OnMessage(m);
        } else if constexpr (std::is_same_v<T, pg::IgnoredMessage>) {
          base::RelayLog().debug("pgoutput message '{}' ignored: the outbox is insert-only", m.tag);
          return std::monostate{};
        } else {
          return std::monostate{};  // Origin and Type carry nothing the relay needs
        }
      },
      message);
}

TransactionAssembler::Step TransactionAssembler::OnRelation(const pg::RelationMessage& message) {
  const config::TableName table{std::string(message.schema), std::string(message.name)};
  Relation relation{table.Qualified(), std::nullopt, outbox::EventOrigin::Table(table), {}, {}, {}};
  const auto& tables = config_.tables;
  if (config_.CapturesTables() && std::find(tables.begin(), tables.end(), table) != tables.end()) {
    std::vector<std::string_view> names;
    names.reserve(message.columns.size());
    for (const auto& column : message.columns) names.push_back(column.name);
    // A table that lost a column is found per row, not here: each of its rows is poison
    // (missing_column), which on_poison handles like any other, and a table whose rows never
    // come does not stop the relay.
    try {
      relation.outbox_layout =
          outbox::OutboxRowLayout::Resolve(config_.columns, names, mapper_.KeyColumns(relation.origin));
      if (const auto payload = relation.outbox_layout->payload) {
        // PostgreSQL validated json and jsonb values on insert; text columns may hold anything.
        constexpr std::uint32_t kJsonOid = 114;
        constexpr std::uint32_t kJsonbOid = 3802;
        const std::uint32_t type = message.columns[*payload].type_oid;
        relation.outbox_layout->payload_is_json = type == kJsonOid || type == kJsonbOid;
      }
    } catch (const outbox::TableShapeError& error) {
      relation.missing_column = error.what();
      const auto find = [&names](const std::string& name) -> std::optional<std::size_t> {
        const auto found = std::find(names.begin(), names.end(), name);
        if (found == names.end()) return std::nullopt;
        return static_cast<std::size_t>(found - names.begin());
      };
      relation.id_column = find(config_.columns.id);
      relation.payload_column = find(config_.columns.payload);
    }
  }
  relations_[message.oid] = std::move(relation);
  return std::monostate{};
}

void TransactionAssembler::ThrowMissingColumn(const Relation& relation, const pg::InsertMessage& message) const {
  const auto text = [&](std::optional<std::size_t> index) -> std::optional<std::string_view> {
    if (!index || *index >= message.values.size()) return std::nullopt;
    return ColumnText(message, *index, relation.qualified_name);
  };
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kMissingColumn;
  poison.detail = relation.missing_column;
  poison.source = relation.origin.source;
  poison.id = std::string(text(relation.id_column).value_or(""));
  poison.commit_lsn = commit_lsn_text_;
  if (const auto payload = text(relation.payload_column)) poison.value.emplace(*payload);
  throw PoisonEventError(std::move(poison));
}

TransactionAssembler::Step TransactionAssembler::OnInsert(const pg::InsertMessage& message) {
  const auto found = relations_.find(message.relation_oid);
  if (found == relations_.end()) {
    throw pg::DecodeError("pgoutput Insert for relation " + std::to_string(message.relation_oid) +
                          " before its Relation message");
  }
  const auto& relation = found->second;
  if (!relation.missing_column.empty()) ThrowMissingColumn(relation, message);
  if (!relation.outbox_layout) {
    base::RelayLog().debug("insert into {} ignored: not an outbox table", relation.qualified_name);
    return std::monostate{};
  }
  const auto& layout = *relation.outbox_layout;
  if (message.values.size() != layout.column_count) {
    throw pg::DecodeError("pgoutput Insert into " + relation.qualified_name + ": " +
                          std::to_string(message.values.size()) + " values for " +
                          std::to_string(layout.column_count) + " columns");
  }
  const auto& table = relation.qualified_name;
  const outbox::OutboxRowValues row =
      layout.Values([&](std::size_t index) { return ColumnText(message, index, table); });
  return MakeEvent(row, relation.origin);
}

// publish_message() sends one JSON object whose fields are strings or null, named like the
// outbox table's default columns, so a message goes through the same layout and mapper as a row.
TransactionAssembler::Step TransactionAssembler::OnMessage(const pg::LogicalMessage& message) {
  const auto& prefixes = config_.message_prefixes;
  if (!config_.CapturesMessages() ||
      std::find(prefixes.begin(), prefixes.end(), message.prefix) == prefixes.end()) {
    base::RelayLog().debug("logical message with prefix {} ignored", message.prefix);
    return std::monostate{};
  }
  const outbox::EventOrigin origin = outbox::EventOrigin::Message(message.prefix);
  const auto poison = [&](outbox::PoisonReason reason, std::string detail, std::string id) {
    outbox::PoisonRow row;
    row.reason = reason;
    row.detail = std::move(detail);
    row.source = origin.source;
    row.id = std::move(id);
    // Outside a transaction a message has no commit; its own position names it instead.
    row.commit_lsn = message.transactional ? commit_lsn_text_ : message.lsn.ToString();
    row.value.emplace(message.content);
    return PoisonEventError(std::move(row));
  };
  // Outside a transaction there is no commit to tie the event to, so it has no place in the
  // delivery contract; publish_message() always emits transactional messages.
  if (!message.transactional) {
    throw poison(outbox::PoisonReason::kInvalidMessage,
                 "not transactional (use pg_logical_emit_message(true, ...))", "");
  }
  const auto json = nlohmann::json::parse(message.content, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) throw poison(outbox::PoisonReason::kInvalidMessage, "content is not a JSON object", "");
  std::vector<std::string_view> names;
  std::vector<std::optional<std::string>> texts;
  names.reserve(json.size());
  texts.reserve(json.size());
  for (const auto& [name, value] : json.items()) {
    names.push_back(name);
    if (value.is_null()) {
      texts.emplace_back(std::nullopt);
    } else {
      texts.emplace_back(value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  outbox::OutboxRowLayout layout;
  try {
    layout = outbox::OutboxRowLayout::Resolve(outbox::kMessageFields, names, mapper_.KeyColumns(origin));
  } catch (const outbox::TableShapeError& error) {
    const auto id = json.find(outbox::kMessageFields.id);
    throw poison(outbox::PoisonReason::kMissingColumn, error.what(),
                 id != json.end() && id->is_string() ? id->get<std::string>() : "");
  }
  const outbox::OutboxRowValues row =
      layout.Values([&texts](std::size_t index) -> std::optional<std::string_view> {
        if (!texts[index]) return std::nullopt;
        return *texts[index];
      });
  return MakeEvent(row, origin);
}

TransactionAssembler::EventStep TransactionAssembler::MakeEvent(const outbox::OutboxRowValues& row,
                                                                const outbox::EventOrigin& origin) const {
  try {
    EventStep step{mapper_.Map(row, origin)};
    step.event.commit_lsn = commit_lsn_text_;
    step.event.time = commit_time_text_;
    return step;
  } catch (const outbox::PoisonRowError& error) {
    outbox::PoisonRow poison = error.row();
    poison.commit_lsn = commit_lsn_text_;
    throw PoisonEventError(std::move(poison));
  }
}

std::string FormatPgTimestamp(PgTimestamp timestamp) {
  // PostgreSQL counts from 2000-01-01; the Unix epoch is 946,684,800 seconds earlier.
  constexpr std::int64_t kPgEpochUnixSeconds = 946'684'800;
  constexpr std::int64_t kMicros = 1'000'000;
  std::int64_t seconds = timestamp / kMicros;
  std::int64_t micros = timestamp % kMicros;
  if (micros < 0) {
    micros += kMicros;
    --seconds;
  }
  const auto unix_seconds = std::chrono::sys_seconds(std::chrono::seconds(seconds + kPgEpochUnixSeconds));
  const auto day = std::chrono::floor<std::chrono::days>(unix_seconds);
  const std::chrono::year_month_day date(day);
  const std::chrono::hh_mm_ss time(unix_seconds - day);
  // Compiled at build time: once per transaction, snprintf was 4 % of the relay's CPU on 1-row
  // transactions and fmt's runtime-parsed format still 4 %.
  return fmt::format(FMT_COMPILE("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z"), static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                     time.minutes().count(), time.seconds().count(), micros);
}

}  // namespace outbox_relay::pipeline
