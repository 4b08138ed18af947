#include "relay/transaction_assembler.hpp"

#include <vector>

#include "config/logging.hpp"

namespace outbox_relay::relay {

namespace {

spdlog::logger& Log() { return config::Logger("relay"); }

std::optional<std::string_view> ColumnText(const InsertMessage& insert, std::size_t index,
                                           const std::string& table) {
  const auto& value = insert.values[index];
  switch (value.kind) {
    case TupleValueKind::kNull:
      return std::nullopt;
    case TupleValueKind::kText:
      return value.data;
    case TupleValueKind::kUnchangedToast:
      // Only updates may omit unchanged TOAST values; in an insert it means a broken stream.
      throw DecodeError("pgoutput Insert into " + table + ": column " + std::to_string(index) +
                        " sent as unchanged TOAST");
    case TupleValueKind::kBinary:
      throw DecodeError("pgoutput Insert into " + table + ": column " + std::to_string(index) +
                        " in binary format, which the relay did not request");
  }
  throw DecodeError("pgoutput Insert: unknown tuple value kind");
}

std::optional<std::string_view> OptionalColumn(const InsertMessage& insert,
                                               std::optional<std::size_t> index,
                                               const std::string& table) {
  if (!index) return std::nullopt;
  return ColumnText(insert, *index, table);
}

}  // namespace

TransactionAssembler::TransactionAssembler(const config::OutboxConfig& config)
    : config_(config), mapper_(config) {}

void TransactionAssembler::Reset() { relations_.clear(); }

TransactionAssembler::Step TransactionAssembler::Apply(const PgOutputMessage& message) {
  return std::visit(
      [this](const auto& m) -> Step {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, BeginMessage>) {
          commit_lsn_text_ = m.final_lsn.ToString();
          return BeginStep{m.final_lsn, m.commit_time};
        } else if constexpr (std::is_same_v<T, CommitMessage>) {
          return CommitStep{m.end_lsn, m.commit_time};
        } else if constexpr (std::is_same_v<T, RelationMessage>) {
          return OnRelation(m);
        } else if constexpr (std::is_same_v<T, InsertMessage>) {
          return OnInsert(m);
        } else if constexpr (std::is_same_v<T, LogicalMessage>) {
          Log().debug("logical message with prefix {} ignored", m.prefix);
          return std::monostate{};
        } else if constexpr (std::is_same_v<T, IgnoredMessage>) {
          Log().debug("pgoutput message '{}' ignored: the outbox is insert-only", m.tag);
          return std::monostate{};
        } else {
          return std::monostate{};  // Origin and Type carry nothing the relay needs
        }
      },
      message);
}

TransactionAssembler::Step TransactionAssembler::OnRelation(const RelationMessage& message) {
  Relation relation;
  relation.qualified_name = std::string(message.schema) + "." + std::string(message.name);
  if (message.schema == config_.table_schema && message.name == config_.table_name) {
    std::vector<std::string_view> names;
    names.reserve(message.columns.size());
    for (const auto& column : message.columns) names.push_back(column.name);
    relation.outbox_layout = outbox::OutboxRowLayout::Resolve(config_.columns, names);
  }
  relations_[message.oid] = std::move(relation);
  return std::monostate{};
}

TransactionAssembler::Step TransactionAssembler::OnInsert(const InsertMessage& message) {
  const auto found = relations_.find(message.relation_oid);
  if (found == relations_.end()) {
    throw DecodeError("pgoutput Insert for relation " + std::to_string(message.relation_oid) +
                      " before its Relation message");
  }
  const auto& relation = found->second;
  if (!relation.outbox_layout) {
    Log().debug("insert into {} ignored: not the outbox table", relation.qualified_name);
    return std::monostate{};
  }
  const auto& layout = *relation.outbox_layout;
  if (message.values.size() != layout.column_count) {
    throw DecodeError("pgoutput Insert into " + relation.qualified_name + ": " +
                      std::to_string(message.values.size()) + " values for " +
                      std::to_string(layout.column_count) + " columns");
  }
  const auto& table = relation.qualified_name;
  outbox::OutboxRowValues row{
      ColumnText(message, layout.id, table),
      ColumnText(message, layout.aggregate_type, table),
      ColumnText(message, layout.aggregate_id, table),
      ColumnText(message, layout.type, table),
      OptionalColumn(message, layout.payload, table),
      OptionalColumn(message, layout.headers, table),
  };
  try {
    EventStep step{mapper_.Map(row)};
    step.event.commit_lsn = commit_lsn_text_;
    return step;
  } catch (const outbox::PoisonRowError& error) {
    throw PoisonEventError("poison row in " + table + " (id " + std::string(row.id.value_or("NULL")) +
                           ", commit LSN " + commit_lsn_text_ + "): " + error.what());
  }
}

}  // namespace outbox_relay::relay
