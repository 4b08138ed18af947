#include "relay/ops/slot_lookup.hpp"

#include <string_view>

#include "relay/ops/sql_text.hpp"

namespace outbox_relay::ops::detail {
namespace {

constexpr std::string_view kPlugin = "pgoutput";

}  // namespace

base::Result<std::optional<SlotRow>> FindSlot(Database& db, const std::string& slot) {
  const auto rows = db.Query(
      "SELECT plugin, slot_type, database, active, active_pid::text, wal_status "
      "FROM pg_replication_slots WHERE slot_name = $1",
      {slot});
  if (!rows) return rows.error();
  if (rows.value().empty()) return std::optional<SlotRow>();
  const Row& row = rows.value().front();
  return std::optional<SlotRow>(SlotRow{Text(row[0]), Text(row[1]), Text(row[2]), Bool(row[3]), row[4], row[5]});
}

std::optional<SlotProblem> SlotUnusable(const SlotRow& row, const std::string& slot, const std::string& database) {
  const std::string other_name = "or set source.slot to another name";
  if (row.slot_type != "logical") {
    return SlotProblem{"is a " + row.slot_type + " slot, the relay needs a logical one",
                       "drop it (" + DropSlotSql(slot) + ") " + other_name};
  }
  if (row.plugin != kPlugin) {
    return SlotProblem{"uses plugin " + row.plugin + ", the relay needs pgoutput",
                       "drop it (" + DropSlotSql(slot) + ") " + other_name};
  }
  if (row.database != database) {
    return SlotProblem{"belongs to database " + row.database + ", source.dsn connects to " + database,
                       "point source.dsn at database " + row.database + ", " + other_name};
  }
  if (row.wal_status && *row.wal_status == "lost") {
    return SlotProblem{std::string(pg::kSlotLostProblem), std::string(pg::kRecreateSlotHint)};
  }
  return std::nullopt;
}

base::Result<std::optional<pg::SlotRecord>> FindSlotRecord(Database& db, const std::string& slot) {
  // Without V3, or for a role that may not read it, there is no evidence: the relay then streams
  // with its slot-loss protection off, and says so.
  // By catalog lookup: to_regclass() itself fails without USAGE on the schema.
  const auto readable = db.QueryBool(
      "SELECT coalesce((SELECT has_schema_privilege(n.oid, 'USAGE') AND "
      "has_table_privilege(c.oid, 'SELECT') FROM pg_class c JOIN pg_namespace n ON "
      "n.oid = c.relnamespace WHERE n.nspname = 'outbox' AND c.relname = 'relay_slots'), false)");
  if (!readable) return readable.error();
  if (!readable.value()) return std::optional<pg::SlotRecord>();
  const auto rows =
      db.Query("SELECT created_lsn::text, created_at::text FROM outbox.relay_slots WHERE slot_name = $1", {slot});
  if (!rows) return rows.error();
  if (rows.value().empty()) return std::optional<pg::SlotRecord>();
  const Row& row = rows.value().front();
  return std::optional<pg::SlotRecord>(pg::SlotRecord{Text(row[0]), Text(row[1])});
}

}  // namespace outbox_relay::ops::detail
