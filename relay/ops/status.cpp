// `outbox-relay status` (StatusCommand): the slot's activity, confirmed flush LSN, lag and
// retained WAL, as an aligned table or one JSON object.

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/exit_code.hpp"
#include "relay/ops/cli.hpp"
#include "relay/ops/command_config.hpp"
#include "relay/ops/command_output.hpp"
#include "relay/ops/database.hpp"
#include "relay/ops/sql_text.hpp"

namespace outbox_relay::ops {
namespace detail {
namespace {

// The slot's row, with the server's current WAL position and the distances to it.
base::Result<std::vector<Row>> QuerySlotStatus(Database& db, const std::string& slot) {
  return db.Query(
      "WITH w AS (SELECT " + std::string(kServerWalPositionSql) +
          " AS lsn) "
          "SELECT s.database, s.plugin, s.active, s.active_pid::text, s.confirmed_flush_lsn::text, "
          "s.restart_lsn::text, w.lsn::text, pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::bigint::text, "
          "pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint::text, s.wal_status, s.safe_wal_size::text "
          "FROM pg_replication_slots s, w WHERE s.slot_name = $1",
      {slot});
}

void PrintJson(const std::string& slot, const Row& row, std::ostream& out) {
  auto integer_or_null = [](const Value& value) -> nlohmann::json {
    return value ? nlohmann::json(std::stoll(*value)) : nlohmann::json(nullptr);
  };
  auto text_or_null = [](const Value& value) -> nlohmann::json {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  const nlohmann::json object = {
      {"slot", slot},
      {"exists", true},
      {"database", text_or_null(row[0])},
      {"plugin", text_or_null(row[1])},
      {"active", Bool(row[2])},
      {"active_pid", integer_or_null(row[3])},
      {"confirmed_flush_lsn", text_or_null(row[4])},
      {"restart_lsn", text_or_null(row[5])},
      {"current_wal_lsn", text_or_null(row[6])},
      {"lag_bytes", integer_or_null(row[7])},
      {"retained_wal_bytes", integer_or_null(row[8])},
      {"wal_status", text_or_null(row[9])},
      {"safe_wal_size_bytes", integer_or_null(row[10])},
  };
  out << object.dump() << "\n";
}

void PrintTable(const std::string& slot, const Row& row, std::ostream& out) {
  struct Line {
    std::string label;
    std::string value;
  };
  auto bytes = [](const Value& value) {
    return value ? *value + " (" + HumanBytes(std::stoll(*value)) + ")" : std::string("-");
  };
  const std::vector<Line> table = {
      {"slot", slot},
      {"database", Text(row[0])},
      {"plugin", Text(row[1])},
      {"active", Bool(row[2]) ? "yes (pid " + row[3].value_or("?") + ")" : std::string("no")},
      {"confirmed_flush_lsn", row[4].value_or("-")},
      {"restart_lsn", row[5].value_or("-")},
      {"current_wal_lsn", row[6].value_or("-")},
      {"lag_bytes", bytes(row[7])},
      {"retained_wal_bytes", bytes(row[8])},
      {"wal_status", row[9].value_or("-")},
      // NULL: max_slot_wal_keep_size is -1, unless the slot is lost already.
      {"safe_wal_size_bytes", row[10] ? bytes(row[10]) : std::string(row[9] == "lost" ? "-" : "unlimited")},
  };
  std::size_t width = 0;
  for (const auto& line : table) width = std::max(width, line.label.size());
  for (const auto& line : table) {
    out << line.label << std::string(width + 2 - line.label.size(), ' ') << line.value << "\n";
  }
}

}  // namespace
}  // namespace detail

int StatusCommand(const std::string& config_path, bool json, std::ostream& out, std::ostream& err) {
  const auto config = detail::LoadCommandConfig(config_path, err);
  if (!config) return base::kExitConfig;
  const std::string& slot = config->source.slot;
  auto connected = detail::ConnectForCommand(config->source, "status", err);
  if (!connected) return base::kExitFatal;
  detail::Database& db = *connected;
  const auto database = db.QueryValue("SELECT current_database()");
  const base::Result<std::vector<detail::Row>> rows =
      database ? detail::QuerySlotStatus(db, slot) : base::Result<std::vector<detail::Row>>(database.error());
  if (!rows) {
    err << "outbox-relay: status: " << db.Describe() << ": " << rows.error().message << "\n";
    return base::kExitFatal;
  }
  if (rows.value().empty()) {
    const std::string name = detail::Text(database.value());
    if (json) {
      out << nlohmann::json{{"slot", slot}, {"exists", false}, {"database", name}}.dump() << "\n";
    }
    err << "outbox-relay: status: slot " << slot << " does not exist in database " << name << "\n"
        << detail::kHintIndent
        << "outbox-relay init --config <file> creates it (so does the relay at start while "
           "source.create_slot is true)\n";
    return base::kExitFatal;
  }
  if (json) {
    detail::PrintJson(slot, rows.value().front(), out);
  } else {
    detail::PrintTable(slot, rows.value().front(), out);
  }
  return base::kExitOk;
}

}  // namespace outbox_relay::ops
