#include "relay/ops/sql_text.hpp"

#include <algorithm>
#include <iterator>

namespace outbox_relay::ops::detail {
namespace {

// Words PostgreSQL reserves in identifier positions ("reserved" and "reserved (can be function
// or type)" in the SQL key words appendix): such a name needs quotes even in lower case.
constexpr std::string_view kReservedWords[] = {
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
    "binary", "both", "case", "cast", "check", "collate", "collation", "column", "concurrently",
    "constraint", "create", "cross", "current_catalog", "current_date", "current_role",
    "current_schema", "current_time", "current_timestamp", "current_user", "default", "deferrable",
    "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "freeze",
    "from", "full", "grant", "group", "having", "ilike", "in", "initially", "inner", "intersect",
    "into", "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
    "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or", "order",
    "outer", "overlaps", "placing", "primary", "references", "returning", "right", "select",
    "session_user", "similar", "some", "symmetric", "system_user", "table", "tablesample", "then",
    "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "verbose", "when",
    "where", "window", "with"};

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  const bool plain =
      !name.empty() && (name.front() == '_' || (name.front() >= 'a' && name.front() <= 'z')) &&
      std::all_of(name.begin(), name.end(),
                  [](char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }) &&
      std::find(std::begin(kReservedWords), std::end(kReservedWords), name) == std::end(kReservedWords);
  if (plain) return std::string(name);
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string QuoteLiteral(std::string_view text) {
  const bool backslash = text.find('\\') != std::string_view::npos;
  std::string quoted = backslash ? "E'" : "'";
  for (char c : text) {
    if (c == '\'' || (backslash && c == '\\')) quoted += c;
    quoted += c;
  }
  return quoted + "'";
}

std::string QualifiedTable(const config::TableName& table) {
  return QuoteIdentifier(table.schema) + "." + QuoteIdentifier(table.name);
}

std::string TableList(const std::vector<config::TableName>& tables) {
  std::string list;
  for (const auto& table : tables) {
    if (!list.empty()) list += ", ";
    list += QualifiedTable(table);
  }
  return list;
}

std::string TextArray(const std::vector<std::string>& elements) {
  std::string literal = "{";
  for (const auto& element : elements) {
    if (literal.size() > 1) literal += ',';
    literal += '"';
    for (char c : element) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  return literal + "}";
}

std::string CreatePublicationSql(const std::string& publication, const std::vector<config::TableName>& tables) {
  const std::string for_tables = tables.empty() ? "" : " FOR TABLE " + TableList(tables);
  return "CREATE PUBLICATION " + QuoteIdentifier(publication) + for_tables + " WITH (publish = 'insert');";
}

std::string SetPublicationTablesSql(const std::string& publication, const std::vector<config::TableName>& tables) {
  return "ALTER PUBLICATION " + QuoteIdentifier(publication) + " SET TABLE " + TableList(tables) + ";";
}

std::string CreateSlotSql(const std::string& slot) {
  return "SELECT pg_create_logical_replication_slot(" + QuoteLiteral(slot) + ", 'pgoutput');";
}

std::string DropSlotSql(const std::string& slot) {
  return "SELECT pg_drop_replication_slot(" + QuoteLiteral(slot) + ");";
}

std::string RecordExistingSlotSql(const std::string& slot_sql) {
  return "INSERT INTO outbox.relay_slots (slot_name, created_lsn)\n"
         "SELECT slot_name, coalesce(confirmed_flush_lsn, restart_lsn) FROM pg_replication_slots WHERE slot_name = " +
         slot_sql + "\nON CONFLICT (slot_name) DO NOTHING";
}

std::string CommentOut(std::string_view sql) {
  std::string out;
  std::size_t start = 0;
  while (start < sql.size()) {
    std::size_t end = sql.find('\n', start);
    if (end == std::string_view::npos) end = sql.size();
    const std::string_view line = sql.substr(start, end - start);
    if (!line.empty() && line.substr(0, 2) != "--") out += "-- ";
    out += line;
    out += '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace outbox_relay::ops::detail
