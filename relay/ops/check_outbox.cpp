// `outbox-relay check`: the outbox side of the source database: the publication, each outbox
// table's shape and privileges, and what the migrations add (publish_message(), slot-loss
// evidence, replay and retention columns, purge()).

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/ops/check.hpp"
#include "relay/ops/outbox_migrations.hpp"
#include "relay/ops/sql_text.hpp"

namespace outbox_relay::ops::detail {
namespace {

constexpr std::string_view kExistingTableDoc = "docs/adding-an-outbox.md#an-existing-outbox-table";

// Whether outbox.relay_slots exists and whether the role may use it (SELECT and INSERT).
base::Result<void> CheckSlotEvidence(Database& db, CheckReport& report) {
  // By catalog lookup: to_regclass() itself fails without USAGE on the schema.
  const auto found = db.QueryRow(
      "SELECT c.oid IS NOT NULL, coalesce(has_schema_privilege(n.oid, 'USAGE') AND "
      "has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT'), false), "
      "current_user FROM (SELECT 1) AS one LEFT JOIN (pg_class c JOIN pg_namespace n ON "
      "n.oid = c.relnamespace AND n.nspname = 'outbox') ON c.relname = 'relay_slots'");
  if (!found) return found.error();
  const Row& slots = found.value();
  const std::string what = "slot-loss protection (outbox.relay_slots)";
  const std::string cost =
      ": after a failover that loses the slot, the relay would create a new one at the current WAL position "
      "and skip every event committed in between, without an error";
  if (!Bool(slots[0])) {
    report.Warn(what, "off: the table does not exist" + cost,
                "outbox-relay init creates it, or apply " + std::string(kMigrationV3Name) +
                    " (it needs no other migration)");
  } else if (!Bool(slots[1])) {
    const std::string role = QuoteIdentifier(Text(slots[2]));
    report.Warn(what, "off: role " + Text(slots[2]) + " may not read and insert into it" + cost,
                "GRANT USAGE ON SCHEMA outbox TO " + role + "; GRANT SELECT, INSERT ON outbox.relay_slots TO " +
                    role + ";");
  } else {
    report.Ok(what);
  }
  return boost::outcome_v2::success();
}

// created_lsn (with its default) and created_at on each outbox table: replay and retention.
base::Result<void> CheckReplayColumns(Database& db, const config::Config& config, const std::string& own_tables_note,
                                      CheckReport& report) {
  for (const auto& table : config.outbox.tables) {
    const std::string name = QualifiedTable(table);
    const auto found = db.QueryRow(
        "SELECT bool_or(a.attname = 'created_lsn' AND a.atthasdef), bool_or(a.attname = "
        "'created_at') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN "
        "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
        "AND a.attnum > 0 AND NOT a.attisdropped",
        {table.schema, table.name});
    if (!found) return found.error();
    const Row& columns = found.value();
    if (!columns[0] && !columns[1]) continue;  // no such table: its own check failed already
    std::string missing;
    if (!Bool(columns[0])) {
      missing += "no created_lsn column with a default" + own_tables_note +
                 ": outbox-relay replay --from/--to cannot take LSNs";
    }
    if (!Bool(columns[1])) {
      missing += std::string(missing.empty() ? "" : "; ") +
                 "no created_at column: outbox-relay replay cannot take timestamps, and outbox.purge() cannot "
                 "delete delivered rows";
    }
    if (missing.empty()) {
      report.Ok("replay and retention columns of " + name + " (created_lsn, created_at)");
    } else {
      report.Warn("replay and retention columns of " + name, missing,
                  "add them as " + std::string(kExistingTableDoc) + " shows");
    }
  }
  return boost::outcome_v2::success();
}

base::Result<void> CheckPurge(Database& db, const std::string& own_tables_note, CheckReport& report) {
  // By catalog lookup, like outbox.relay_slots: to_regprocedure() fails without USAGE.
  const auto has_purge = db.QueryBool(
      "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = "
      "p.pronamespace WHERE n.nspname = 'outbox' AND p.proname = 'purge' AND "
      "oidvectortypes(p.proargtypes) = 'interval, name, regclass')");
  if (!has_purge) return has_purge.error();
  if (has_purge.value()) {
    report.Ok("retention function outbox.purge()");
  } else {
    report.Warn("retention function outbox.purge()",
                "off: it does not exist" + own_tables_note +
                    ": nothing deletes delivered outbox rows, and the tables grow",
                "apply " + std::string(kMigrationV2Name) + " (its purge() takes any table with created_at), or "
                "delete delivered rows yourself (" + std::string(kExistingTableDoc) + ")");
  }
  return boost::outcome_v2::success();
}

}  // namespace

base::Result<void> CheckPublication(Database& db, const config::Config& config, CheckReport& report) {
  const std::string& publication = config.source.publication;
  const std::string what = "publication " + publication;
  const auto tables = PublishedTables(config.outbox);
  const auto rows = db.Query("SELECT pubinsert FROM pg_publication WHERE pubname = $1", {publication});
  if (!rows) return rows.error();
  if (rows.value().empty()) {
    report.Fail(what, "does not exist", CreatePublicationSql(publication, tables));
    return boost::outcome_v2::success();
  }
  if (tables.empty()) {
    report.Ok(what + " exists (outbox.capture: messages, no table to publish)");
    return boost::outcome_v2::success();
  }
  if (!Bool(rows.value().front()[0])) {
    report.Fail(what, "does not publish inserts",
                "ALTER PUBLICATION " + QuoteIdentifier(publication) + " SET (publish = 'insert');");
    return boost::outcome_v2::success();
  }
  const auto& columns = config.outbox.columns;
  const std::string wanted_columns = TextArray(
      {columns.id, columns.aggregate_type, columns.aggregate_id, columns.type, columns.payload, columns.headers});
  // PostgreSQL 15 publications may filter rows or columns: rows or values the relay would
  // silently never see.
  const bool shaped = db.ServerVersion() >= 150000;
  const std::string reset = SetPublicationTablesSql(publication, tables);
  bool fits = true;
  for (const auto& table : tables) {
    const std::string name = QualifiedTable(table);
    const auto found =
        shaped ? db.Query("SELECT t.rowfilter, "
                          "ARRAY(SELECT c FROM unnest($4::text[]) c WHERE c <> ALL (t.attnames::text[]))::text "
                          "FROM pg_publication_tables t "
                          "WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3",
                          {publication, table.schema, table.name, wanted_columns})
               : db.Query("SELECT NULL::text, NULL::text FROM pg_publication_tables t "
                          "WHERE t.pubname = $1 AND t.schemaname = $2 AND t.tablename = $3",
                          {publication, table.schema, table.name});
    if (!found) return found.error();
    if (found.value().empty()) {
      report.Fail(what, "does not cover the outbox table " + name,
                  "ALTER PUBLICATION " + QuoteIdentifier(publication) + " ADD TABLE " + name + ";");
      fits = false;
      continue;
    }
    const Row& shape = found.value().front();
    if (shape[0]) {
      report.Fail(what, "filters the rows of " + name + " (WHERE " + *shape[0] + "), the relay never sees the others",
                  reset);
      fits = false;
    } else if (shape[1] && *shape[1] != "{}") {
      report.Fail(what, "its column list leaves out " + *shape[1] + " of " + name, reset);
      fits = false;
    }
  }
  if (fits) report.Ok(what + " publishes inserts of " + TableList(tables));
  return boost::outcome_v2::success();
}

base::Result<bool> CheckTable(Database& db, const config::TableName& table, const config::OutboxColumns& columns,
                              CheckReport& report) {
  const std::string name = QualifiedTable(table);
  const std::string what = "outbox table " + name;
  const auto rows = db.Query(
      "SELECT c.oid::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = $2",
      {table.schema, table.name});
  if (!rows) return rows.error();
  const std::string apply =
      IsMigrationTable(table)
          ? "apply " + std::string(kMigrationV1Name) +
                " (outbox-relay init does), or list the outbox's schema.table in outbox.tables"
          : "create it with the outbox columns (outbox-relay init --print-sql shows them), or correct outbox.tables";
  if (rows.value().empty()) {
    report.Fail(what, "does not exist", apply);
    return false;
  }
  const Row& relation = rows.value().front();
  const std::string kind = Text(relation[1]);
  if (kind != "r" && kind != "p") {
    report.Fail(what, "is not a table (relkind " + kind + "), logical replication publishes tables only", apply);
    return false;
  }
  const auto attributes = db.Query(
      "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped",
      {Text(relation[0])});
  if (!attributes) return attributes.error();
  std::vector<std::string> present;
  for (const auto& row : attributes.value()) present.push_back(Text(row[0]));
  auto has = [&](const std::string& column) {
    return std::find(present.begin(), present.end(), column) != present.end();
  };
  // Required by EventMapper; payload and headers may be absent (events without them).
  const std::array<std::pair<const char*, const std::string*>, 4> required = {{
      {"id", &columns.id},
      {"aggregate_type", &columns.aggregate_type},
      {"aggregate_id", &columns.aggregate_id},
      {"type", &columns.type},
  }};
  std::string missing;
  for (const auto& [key, column] : required) {
    if (has(*column)) continue;
    if (!missing.empty()) missing += ", ";
    missing += *column + " (outbox.columns." + key + ")";
  }
  if (!missing.empty()) {
    report.Fail(what, "has no column " + missing,
                "apply " + std::string(kMigrationV1Name) + ", or set outbox.columns.* to the table's column names");
    return true;
  }
  std::string note;
  for (const auto& [key, column] : {std::pair{"payload", &columns.payload}, std::pair{"headers", &columns.headers}}) {
    if (!has(*column)) note += ", no " + *column + " column (outbox.columns." + key + "): events go without";
  }
  report.Ok(what + " has the configured columns" + note);
  return true;
}

base::Result<void> CheckSelect(Database& db, const config::TableName& table, CheckReport& report) {
  const std::string name = QualifiedTable(table);
  const auto found = db.QueryRow(
      "SELECT current_user, has_schema_privilege(n.oid, 'USAGE'), has_table_privilege(c.oid, 'SELECT') "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = $2",
      {table.schema, table.name});
  if (!found) return found.error();
  const Row& row = found.value();
  const std::string role = QuoteIdentifier(Text(row[0]));
  const std::string what = "SELECT on " + name;
  if (Bool(row[1]) && Bool(row[2])) {
    report.Ok(what);
    return boost::outcome_v2::success();
  }
  report.Fail(what, "role " + Text(row[0]) + " may not read the outbox table",
              "GRANT USAGE ON SCHEMA " + QuoteIdentifier(table.schema) + " TO " + role + "; GRANT SELECT ON " + name +
                  " TO " + role + ";");
  return boost::outcome_v2::success();
}

base::Result<void> CheckPublishMessage(Database& db, CheckReport& report) {
  const std::string what = "function outbox.publish_message";
  const auto exists = db.QueryBool(
      "SELECT to_regprocedure('outbox.publish_message(text, text, text, jsonb, jsonb, text)') IS NOT NULL");
  if (!exists) return exists.error();
  if (exists.value()) {
    report.Ok(what + " (outbox.capture includes messages)");
    return boost::outcome_v2::success();
  }
  report.Fail(what, "does not exist, and outbox.capture includes messages",
              "apply " + std::string(kMigrationV2Name) + " (outbox-relay init does); services call it to publish "
              "an event without a table");
  return boost::outcome_v2::success();
}

// The relay runs without each protection, so a missing one is a WARN that says what is lost and
// how to add it; with tables of one's own, init applies no migration, and this is where the
// user learns it.
base::Result<void> CheckProtections(Database& db, const config::Config& config, CheckReport& report) {
  const std::string own_tables_note =
      MigrationsApply(config.outbox) ? ""
                                     : " (with only tables of your own in outbox.tables, outbox-relay init "
                                       "applies " + std::string(kMigrationV3Name) + " alone)";
  if (auto done = CheckSlotEvidence(db, report); !done) return done;
  if (!config.outbox.CapturesTables()) return boost::outcome_v2::success();  // the rest is about rows in tables
  if (auto done = CheckReplayColumns(db, config, own_tables_note, report); !done) return done;
  return CheckPurge(db, own_tables_note, report);
}

}  // namespace outbox_relay::ops::detail
