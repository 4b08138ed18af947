#include "relay/ops/cli.hpp"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/exit_code.hpp"
#include "base/c_handle.hpp"
#include "config/config.hpp"
#include "base/redaction.hpp"
#include "relay/ops/embedded_sql.hpp"
#include "relay/ops/kafka_topic_check.hpp"
#include "relay/pg/pg_conninfo.hpp"
#include "relay/pg/pg_handles.hpp"
#include "relay/pg/replication_stream.hpp"
#include "base/version.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::ops {
namespace {

// A DSN without connect_timeout would let an unreachable host hang an operator's command for
// the kernel's TCP timeout; the DSN's own value still wins (see Database).
constexpr const char* kConnectTimeoutSeconds = "10";
constexpr int kKafkaTimeoutMs = 5000;
// pgoutput's `messages` option (heartbeats, tableless mode) arrived in PostgreSQL 14.
constexpr int kMinServerVersion = 140000;
constexpr std::string_view kPlugin = "pgoutput";
constexpr std::string_view kHintIndent = "     hint: ";

// The objects the migrations create; their names are fixed in the SQL, not taken from config.
constexpr std::string_view kMigrationName = kOutboxMigrations[0].path;
constexpr std::string_view kMigrationV2Name = kOutboxMigrations[1].path;
constexpr std::string_view kMigrationV3Name = kOutboxMigrations[2].path;
constexpr std::string_view kExistingTableDoc = "docs/adding-an-outbox.md#an-existing-outbox-table";
constexpr std::string_view kMigrationSchema = "outbox";
constexpr std::string_view kMigrationTable = "outbox";
constexpr std::string_view kMigrationPublication = "outbox_relay";

using ConninfoHandle = base::CHandle<PQconninfoOption, PQconninfoFree>;
using sinks::KafkaMetadataHandle;

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

// SQL for hints and --print-sql, built without a connection (PQescapeIdentifier needs one).
// Plain lower-case names stay bare so a hint reads like what a DBA would type.
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

// Valid whatever standard_conforming_strings says: E'' with backslashes doubled when needed.
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

bool IsMigrationTable(const config::TableName& table) {
  return table.schema == kMigrationSchema && table.name == kMigrationTable;
}

// What the publication must cover: the outbox tables, or nothing when only logical messages are
// captured (pgoutput still wants a publication by name, but messages do not go through one).
std::vector<config::TableName> PublishedTables(const config::OutboxConfig& outbox) {
  return outbox.CapturesTables() ? outbox.tables : std::vector<config::TableName>{};
}

// The migrations' own publication is right for the config as it is.
bool MigrationPublicationFits(const config::OutboxConfig& outbox) {
  return !outbox.CapturesTables() || (outbox.tables.size() == 1 && IsMigrationTable(outbox.tables.front()));
}

// The migrations run when the config uses what they create: the table outbox.outbox, or
// publish_message() for logical messages. A config naming only tables of its own gets neither:
// they would create an outbox nobody reads.
bool MigrationsApply(const config::OutboxConfig& outbox) {
  return outbox.CapturesMessages() || std::any_of(outbox.tables.begin(), outbox.tables.end(), IsMigrationTable);
}

std::string CreatePublicationSql(const std::string& publication, const std::vector<config::TableName>& tables) {
  // Inserts only, like the migration: a retention job's deletes must not become events.
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

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...");
// a check prints one line per problem.
std::string OneLine(std::string_view text) {
  std::string line;
  bool pending_space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      pending_space = !line.empty();
      continue;
    }
    if (pending_space) line += ' ';
    pending_space = false;
    line += c;
  }
  return line;
}

// A text[] literal for a query parameter: every element quoted, so no name is special.
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

std::string HumanBytes(std::int64_t bytes) {
  constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while ((value >= 1024 || value <= -1024) && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  if (unit == 0) {
    std::snprintf(buffer, sizeof buffer, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1f %s", value, kUnits[unit]);
  }
  return buffer;
}

std::string ServerVersionText(int version) {
  // 150018 → "15.18" (PostgreSQL 10 and later number major.minor).
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000);
}

std::string DescribeConnection(PGconn* conn) {
  std::string text;
  auto add = [&](const char* key, const char* value) {
    if (value == nullptr || *value == '\0') return;
    if (!text.empty()) text += ' ';
    text += std::string(key) + "=" + value;
  };
  add("host", PQhost(conn));
  add("port", PQport(conn));
  add("dbname", PQdb(conn));
  add("user", PQuser(conn));
  return text;
}

// ---------------------------------------------------------------------------------------------

class DatabaseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Value = std::optional<std::string>;  // nullopt: SQL NULL
using Row = std::vector<Value>;

// One blocking libpq session. The commands run outside the relay's io_context, so waiting on
// the server here stalls nothing else.
class Database {
 public:
  /// Server warnings (e.g. CREATE PUBLICATION under wal_level replica) go to `warnings` if
  /// given; notices ("already exists, skipping") are dropped: the commands print their own lines.
  Database(const config::SourceConfig& source, const char* application_name, bool replication = false,
           std::ostream* warnings = nullptr) {
    // The DSN's own connect_timeout / application_name win over these defaults; `replication`
    // comes last because a replication session is what that check tests.
    pg::PgConnectParams::Pairs overrides;
    if (replication) overrides.emplace_back("replication", "database");
    const pg::PgConnectParams params(
        source, {{"connect_timeout", kConnectTimeoutSeconds}, {"application_name", application_name}}, overrides);
    conn_.reset(PQconnectdbParams(params.Keywords(), params.Values(), 1));
    if (!conn_) throw DatabaseError("out of memory creating a libpq connection");
    PQsetNoticeReceiver(conn_.get(), ForwardWarning, warnings);
    description_ = DescribeConnection(conn_.get());
    if (description_.empty()) description_ = DescribeDsn(source.dsn);
    if (PQstatus(conn_.get()) != CONNECTION_OK) throw DatabaseError(OneLine(PQerrorMessage(conn_.get())));
  }

  /// host/port/dbname/user of the session, never the password.
  const std::string& Describe() const { return description_; }
  int ServerVersion() const { return PQserverVersion(conn_.get()); }

  /// Extended protocol, text parameters and results.
  std::vector<Row> Query(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) values.push_back(param.c_str());
    pg::PgResultHandle result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                       values.data(), nullptr, nullptr, 0));
    return Rows(result.get());
  }

  /// Simple protocol: several statements run as one implicit transaction.
  void Execute(const std::string& sql) {
    pg::PgResultHandle result(PQexec(conn_.get(), sql.c_str()));
    Rows(result.get());
  }

 private:
  static void ForwardWarning(void* stream, const PGresult* notice) {
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
    if (stream == nullptr || severity == nullptr || message == nullptr || std::string_view(severity) != "WARNING") {
      return;
    }
    *static_cast<std::ostream*>(stream) << "outbox-relay: PostgreSQL warning: " << OneLine(message) << "\n";
  }

  std::vector<Row> Rows(PGresult* result) {
    const auto status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      if (result == nullptr) throw DatabaseError(OneLine(PQerrorMessage(conn_.get())));
      std::string message = OneLine(PQresultErrorMessage(result));
      if (const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
        message = OneLine(primary);
        if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
          message += " (" + OneLine(detail) + ")";
        }
      }
      throw DatabaseError(message);
    }
    std::vector<Row> rows(static_cast<std::size_t>(PQntuples(result)));
    const int columns = PQnfields(result);
    for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
      for (int c = 0; c < columns; ++c) {
        rows[r].push_back(PQgetisnull(result, r, c) ? Value() : Value(PQgetvalue(result, r, c)));
      }
    }
    return rows;
  }

  pg::PgConnHandle conn_;
  std::string description_;
};

std::string Text(const Value& value) { return value.value_or(""); }
bool Bool(const Value& value) { return value && *value == "t"; }
std::int64_t Integer(const Value& value) { return value ? std::stoll(*value) : 0; }

bool QueryBool(Database& db, const std::string& sql, const std::vector<std::string>& params = {}) {
  return Bool(db.Query(sql, params).front()[0]);
}

// ---------------------------------------------------------------------------------------------
// check

class CheckReport {
 public:
  explicit CheckReport(std::ostream& out) : out_(out) {}

  void Ok(const std::string& what) { out_ << "ok   " << what << "\n" << std::flush; }
  /// Something the relay runs without, at a cost the line says: not a failure.
  void Warn(const std::string& what, const std::string& problem, const std::string& hint) {
    out_ << "WARN " << what << ": " << problem << "\n" << kHintIndent << hint << "\n" << std::flush;
  }
  void Fail(const std::string& what, const std::string& problem, const std::string& hint) {
    failed_ = true;
    out_ << "FAIL " << what << ": " << problem << "\n" << kHintIndent << hint << "\n" << std::flush;
  }
  bool Failed() const { return failed_; }

 private:
  std::ostream& out_;
  bool failed_ = false;
};

// Runs one check; a query error is that check's FAIL, the other checks still run.
void Guarded(CheckReport& report, const std::string& what, const std::function<void()>& check) {
  try {
    check();
  } catch (const DatabaseError& error) {
    report.Fail(what, std::string("query failed: ") + error.what(),
                "the check's queries need PostgreSQL 14 or later and a role that may read the system catalogs");
  }
}

struct SlotRow {
  std::string plugin;
  std::string slot_type;
  std::string database;
  bool active = false;
  std::optional<std::string> active_pid;
  std::optional<std::string> wal_status;
};

std::optional<SlotRow> FindSlot(Database& db, const std::string& slot) {
  const auto rows = db.Query(
      "SELECT plugin, slot_type, database, active, active_pid::text, wal_status "
      "FROM pg_replication_slots WHERE slot_name = $1",
      {slot});
  if (rows.empty()) return std::nullopt;
  const Row& row = rows.front();
  return SlotRow{Text(row[0]), Text(row[1]), Text(row[2]), Bool(row[3]), row[4], row[5]};
}

// A slot the relay cannot use: nullopt if it fits (pgoutput, logical, this database, WAL kept).
struct SlotProblem {
  std::string problem;
  std::string hint;
};

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

// Records in outbox.relay_slots (V3) the existing slot named by `slot` (a quoted literal, or a
// query parameter), unless it is recorded already.
std::string RecordExistingSlotSql(const std::string& slot) {
  return "INSERT INTO outbox.relay_slots (slot_name, created_lsn)\n"
         "SELECT slot_name, coalesce(confirmed_flush_lsn, restart_lsn) FROM pg_replication_slots WHERE slot_name = " +
         slot + "\nON CONFLICT (slot_name) DO NOTHING";
}

// What outbox.relay_slots (V3) remembers of a slot: nullopt when it never recorded one.
std::optional<pg::SlotRecord> FindSlotRecord(Database& db, const std::string& slot) {
  // Without V3, or for a role that may not read it, there is no evidence: the relay then streams
  // with its slot-loss protection off, and says so.
  // By catalog lookup: to_regclass() itself fails without USAGE on the schema.
  if (!Bool(db.Query("SELECT coalesce((SELECT has_schema_privilege(n.oid, 'USAGE') AND "
                     "has_table_privilege(c.oid, 'SELECT') FROM pg_class c JOIN pg_namespace n ON "
                     "n.oid = c.relnamespace WHERE n.nspname = 'outbox' AND c.relname = 'relay_slots'), false)")
                .front()[0])) {
    return std::nullopt;
  }
  const auto rows =
      db.Query("SELECT created_lsn::text, created_at::text FROM outbox.relay_slots WHERE slot_name = $1", {slot});
  if (rows.empty()) return std::nullopt;
  return pg::SlotRecord{Text(rows.front()[0]), Text(rows.front()[1])};
}

void CheckServer(Database& db, CheckReport& report) {
  const int version = db.ServerVersion();
  const std::string what = "PostgreSQL " + ServerVersionText(version);
  if (version >= kMinServerVersion) {
    report.Ok(what);
  } else {
    report.Fail(what, "the relay needs PostgreSQL 14 or later (pgoutput's logical decoding messages)",
                "upgrade PostgreSQL to 14 or later");
  }
}

void CheckWalLevel(Database& db, CheckReport& report) {
  const std::string level = Text(db.Query("SELECT current_setting('wal_level')").front()[0]);
  if (level == "logical") {
    report.Ok("wal_level is logical");
  } else {
    report.Fail("wal_level", "is " + level + ", logical decoding needs logical",
                "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL");
  }
}

void CheckRoom(Database& db, const config::Config& config, CheckReport& report) {
  const Row row = db.Query(
                        "SELECT current_setting('max_replication_slots')::int, "
                        "(SELECT count(*) FROM pg_replication_slots), "
                        "(SELECT active FROM pg_replication_slots WHERE slot_name = $1), "
                        "current_setting('max_wal_senders')::int, "
                        "(SELECT count(*) FROM pg_stat_replication)",
                        {config.source.slot})
                      .front();
  const auto max_slots = Integer(row[0]);
  const auto used_slots = Integer(row[1]);
  const bool slot_exists = row[2].has_value();
  const bool slot_active = Bool(row[2]);
  const auto max_senders = Integer(row[3]);
  const auto used_senders = Integer(row[4]);
  const std::string slots_what = "replication slots";
  const std::string slots_usage = std::to_string(used_slots) + " of " + std::to_string(max_slots) + " in use";
  if (slot_exists) {
    report.Ok(slots_what + ": " + slots_usage + ", one of them is " + config.source.slot);
  } else if (used_slots < max_slots) {
    report.Ok(slots_what + ": " + slots_usage);
  } else {
    report.Fail(slots_what, "all " + std::to_string(max_slots) + " in use (max_replication_slots), none for " +
                                config.source.slot,
                "drop an unused slot (" + DropSlotSql("name") + ") or ALTER SYSTEM SET max_replication_slots = " +
                    std::to_string(max_slots + 1) + "; then restart PostgreSQL");
  }
  const std::string senders_what = "WAL senders";
  const std::string senders_usage =
      std::to_string(used_senders) + " of " + std::to_string(max_senders) + " in use";
  if (slot_active) {
    // The relay holding the slot already has its WAL sender.
    report.Ok(senders_what + ": " + senders_usage + ", one of them streams " + config.source.slot);
  } else if (used_senders < max_senders) {
    report.Ok(senders_what + ": " + senders_usage);
  } else {
    report.Fail(senders_what, "all " + std::to_string(max_senders) + " in use (max_wal_senders)",
                "ALTER SYSTEM SET max_wal_senders = " + std::to_string(max_senders + 1) +
                    "; then restart PostgreSQL");
  }
}

// Returns whether the role may replicate, so the replication connection is only tried then.
bool CheckRole(Database& db, CheckReport& report) {
  const Row row =
      db.Query("SELECT current_user, rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user").front();
  const std::string role = Text(row[0]);
  if (Bool(row[1])) {
    report.Ok("role " + role + " is a superuser");
    return true;
  }
  if (Bool(row[2])) {
    report.Ok("role " + role + " has REPLICATION");
    return true;
  }
  report.Fail("role " + role, "has neither REPLICATION nor superuser, it cannot stream from a slot",
              "ALTER ROLE " + QuoteIdentifier(role) + " REPLICATION;");
  return false;
}

void CheckReplicationConnection(const config::Config& config, CheckReport& report) {
  const std::string what = "replication connection";
  try {
    Database replication(config.source, "outbox-relay check", true);
    replication.Execute("IDENTIFY_SYSTEM");
    report.Ok(what);
  } catch (const DatabaseError& error) {
    report.Fail(what, error.what(),
                "let this user connect to this database in pg_hba.conf (logical replication "
                "connections match by database name) and keep a WAL sender free");
  }
}

void CheckPublication(Database& db, const config::Config& config, CheckReport& report) {
  const std::string& publication = config.source.publication;
  const std::string what = "publication " + publication;
  const auto tables = PublishedTables(config.outbox);
  const auto rows = db.Query("SELECT pubinsert FROM pg_publication WHERE pubname = $1", {publication});
  if (rows.empty()) {
    report.Fail(what, "does not exist", CreatePublicationSql(publication, tables));
    return;
  }
  if (tables.empty()) {
    report.Ok(what + " exists (outbox.capture: messages, no table to publish)");
    return;
  }
  if (!Bool(rows.front()[0])) {
    report.Fail(what, "does not publish inserts",
                "ALTER PUBLICATION " + QuoteIdentifier(publication) + " SET (publish = 'insert');");
    return;
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
    if (found.empty()) {
      report.Fail(what, "does not cover the outbox table " + name,
                  "ALTER PUBLICATION " + QuoteIdentifier(publication) + " ADD TABLE " + name + ";");
      fits = false;
      continue;
    }
    const Row& shape = found.front();
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
}

// Returns whether the table exists (the SELECT check needs it).
bool CheckTable(Database& db, const config::TableName& table, const config::OutboxColumns& columns,
                CheckReport& report) {
  const std::string name = QualifiedTable(table);
  const std::string what = "outbox table " + name;
  const auto rows = db.Query(
      "SELECT c.oid::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE n.nspname = $1 AND c.relname = $2",
      {table.schema, table.name});
  const std::string apply =
      IsMigrationTable(table)
          ? "apply " + std::string(kMigrationName) +
                " (outbox-relay init does), or list the outbox's schema.table in outbox.tables"
          : "create it with the outbox columns (outbox-relay init --print-sql shows them), or correct outbox.tables";
  if (rows.empty()) {
    report.Fail(what, "does not exist", apply);
    return false;
  }
  const std::string kind = Text(rows.front()[1]);
  if (kind != "r" && kind != "p") {
    report.Fail(what, "is not a table (relkind " + kind + "), logical replication publishes tables only", apply);
    return false;
  }
  std::vector<std::string> present;
  for (const auto& row : db.Query("SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 "
                                  "AND NOT attisdropped",
                                  {Text(rows.front()[0])})) {
    present.push_back(Text(row[0]));
  }
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
                "apply " + std::string(kMigrationName) + ", or set outbox.columns.* to the table's column names");
    return true;
  }
  std::string note;
  for (const auto& [key, column] : {std::pair{"payload", &columns.payload}, std::pair{"headers", &columns.headers}}) {
    if (!has(*column)) note += ", no " + *column + " column (outbox.columns." + key + "): events go without";
  }
  report.Ok(what + " has the configured columns" + note);
  return true;
}

void CheckSelect(Database& db, const config::TableName& table, CheckReport& report) {
  const std::string name = QualifiedTable(table);
  const Row row = db.Query(
                        "SELECT current_user, has_schema_privilege(n.oid, 'USAGE'), has_table_privilege(c.oid, 'SELECT') "
                        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = $1 AND c.relname = $2",
                        {table.schema, table.name})
                      .front();
  const std::string role = QuoteIdentifier(Text(row[0]));
  const std::string what = "SELECT on " + name;
  if (Bool(row[1]) && Bool(row[2])) {
    report.Ok(what);
    return;
  }
  report.Fail(what, "role " + Text(row[0]) + " may not read the outbox table",
              "GRANT USAGE ON SCHEMA " + QuoteIdentifier(table.schema) + " TO " + role + "; GRANT SELECT ON " + name +
                  " TO " + role + ";");
}

// Tableless mode: services publish with outbox.publish_message(), which V2 creates.
void CheckPublishMessage(Database& db, CheckReport& report) {
  const std::string what = "function outbox.publish_message";
  const bool exists = Bool(
      db.Query("SELECT to_regprocedure('outbox.publish_message(text, text, text, jsonb, jsonb, text)') IS NOT NULL")
          .front()[0]);
  if (exists) {
    report.Ok(what + " (outbox.capture includes messages)");
    return;
  }
  report.Fail(what, "does not exist, and outbox.capture includes messages",
              "apply " + std::string(kMigrationV2Name) + " (outbox-relay init does); services call it to publish "
              "an event without a table");
}

void CheckSlot(Database& db, const config::Config& config, CheckReport& report) {
  const std::string& slot = config.source.slot;
  const std::string what = "slot " + slot;
  const std::string database = Text(db.Query("SELECT current_database()").front()[0]);
  const auto row = FindSlot(db, slot);
  if (!row) {
    if (const auto record = FindSlotRecord(db, slot)) {
      report.Fail(what, pg::SlotGoneProblem(*record), std::string(pg::kRecreateSlotHint));
    } else if (config.source.create_slot) {
      report.Ok(what + " does not exist yet; the relay creates it at start (source.create_slot)");
    } else {
      report.Fail(what, "does not exist and source.create_slot is false",
                  "outbox-relay init --config <file>, or " + CreateSlotSql(slot));
    }
    return;
  }
  if (auto problem = SlotUnusable(*row, slot, database)) {
    report.Fail(what, problem->problem, problem->hint);
    return;
  }
  report.Ok(what + " (pgoutput, database " + database + ", " +
            (row->active ? "active, pid " + row->active_pid.value_or("?") : std::string("inactive")) + ")");
}

// The protections the migrations give beyond streaming. The relay runs without each, so a
// missing one is a WARN that says what is lost and how to add it; with tables of one's own,
// init applies no migration, and this is where the user learns it.
void CheckProtections(Database& db, const config::Config& config, CheckReport& report) {
  const std::string because_own_tables =
      MigrationsApply(config.outbox) ? ""
                                     : " (with only tables of your own in outbox.tables, outbox-relay init "
                                       "applies " + std::string(kMigrationV3Name) + " alone)";
  // By catalog lookup: to_regclass() itself fails without USAGE on the schema.
  const Row slots = db.Query(
                          "SELECT c.oid IS NOT NULL, coalesce(has_schema_privilege(n.oid, 'USAGE') AND "
                          "has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT'), false), "
                          "current_user FROM (SELECT 1) AS one LEFT JOIN (pg_class c JOIN pg_namespace n ON "
                          "n.oid = c.relnamespace AND n.nspname = 'outbox') ON c.relname = 'relay_slots'")
                        .front();
  const std::string slots_what = "slot-loss protection (outbox.relay_slots)";
  const std::string slots_cost =
      ": after a failover that loses the slot, the relay would create a new one at the current WAL position "
      "and skip every event committed in between, without an error";
  if (!Bool(slots[0])) {
    report.Warn(slots_what, "off: the table does not exist" + slots_cost,
                "outbox-relay init creates it, or apply " + std::string(kMigrationV3Name) +
                    " (it needs no other migration)");
  } else if (!Bool(slots[1])) {
    const std::string role = QuoteIdentifier(Text(slots[2]));
    report.Warn(slots_what, "off: role " + Text(slots[2]) + " may not read and insert into it" + slots_cost,
                "GRANT USAGE ON SCHEMA outbox TO " + role + "; GRANT SELECT, INSERT ON outbox.relay_slots TO " +
                    role + ";");
  } else {
    report.Ok(slots_what);
  }
  if (!config.outbox.CapturesTables()) return;  // the rest is about rows in tables
  for (const auto& table : config.outbox.tables) {
    const std::string name = QualifiedTable(table);
    const Row columns = db.Query(
                              "SELECT bool_or(a.attname = 'created_lsn' AND a.atthasdef), bool_or(a.attname = "
                              "'created_at') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN "
                              "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
                              "AND a.attnum > 0 AND NOT a.attisdropped",
                              {table.schema, table.name})
                            .front();
    if (!columns[0] && !columns[1]) continue;  // no such table: its own check failed already
    std::string missing;
    if (!Bool(columns[0])) {
      missing += "no created_lsn column with a default" + because_own_tables +
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
  // By catalog lookup, like outbox.relay_slots above: to_regprocedure() fails without USAGE.
  const bool has_purge = QueryBool(db,
                                   "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                                   "p.pronamespace WHERE n.nspname = 'outbox' AND p.proname = 'purge' AND "
                                   "oidvectortypes(p.proargtypes) = 'interval, name, regclass')");
  if (has_purge) {
    report.Ok("retention function outbox.purge()");
  } else {
    report.Warn("retention function outbox.purge()",
                "off: it does not exist" + because_own_tables +
                    ": nothing deletes delivered outbox rows, and the tables grow",
                "apply " + std::string(kMigrationV2Name) + " (its purge() takes any table with created_at), or "
                "delete delivered rows yourself (" + std::string(kExistingTableDoc) + ")");
  }
}

void CheckDatabase(const config::Config& config, CheckReport& report) {
  std::optional<Database> db;
  try {
    db.emplace(config.source, "outbox-relay check");
  } catch (const DatabaseError& error) {
    report.Fail("connect to " + DescribeDsn(config.source.dsn), error.what(),
                "check source.dsn, that PostgreSQL runs there and that pg_hba.conf lets this user in");
    return;
  }
  report.Ok("connect to " + db->Describe());
  Guarded(report, "PostgreSQL version", [&] { CheckServer(*db, report); });
  Guarded(report, "wal_level", [&] { CheckWalLevel(*db, report); });
  Guarded(report, "replication slots", [&] { CheckRoom(*db, config, report); });
  bool may_replicate = false;
  Guarded(report, "role", [&] { may_replicate = CheckRole(*db, report); });
  if (may_replicate) CheckReplicationConnection(config, report);
  Guarded(report, "publication " + config.source.publication, [&] { CheckPublication(*db, config, report); });
  // outbox.capture: messages reads no table, so no table needs to exist or be readable.
  for (const auto& table : PublishedTables(config.outbox)) {
    bool table_exists = false;
    Guarded(report, "outbox table " + QualifiedTable(table),
            [&] { table_exists = CheckTable(*db, table, config.outbox.columns, report); });
    if (table_exists) {
      Guarded(report, "SELECT on " + QualifiedTable(table), [&] { CheckSelect(*db, table, report); });
    }
  }
  if (config.outbox.CapturesMessages()) {
    Guarded(report, "function outbox.publish_message", [&] { CheckPublishMessage(*db, report); });
  }
  Guarded(report, "protections", [&] { CheckProtections(*db, config, report); });
  Guarded(report, "slot " + config.source.slot, [&] { CheckSlot(*db, config, report); });
}

// librdkafka logs every failed broker connection to stderr; the check reports the outcome.
void DiscardKafkaLog(const rd_kafka_t*, int, const char*, const char*) {}

// Keeps the newest client error (authentication, TLS, connection refused) in the std::string
// the conf's opaque points to: "no metadata" alone would not say why.
void KeepKafkaError(rd_kafka_t*, int, const char* reason, void* opaque) {
  *static_cast<std::string*>(opaque) = reason;
}

// Every kafka.* property, as the sink would get it. A property librdkafka rejects is a config
// error (exit 2), as it is for `run`.
sinks::KafkaConfHandle KafkaConf(const config::Config& config) {
  sinks::KafkaConfHandle conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  for (const auto& [key, value] : config.kafka) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size()) != RD_KAFKA_CONF_OK) {
      throw config::ConfigError("kafka." + key, error.data());
    }
  }
  rd_kafka_conf_set_log_cb(conf.get(), DiscardKafkaLog);
  return conf;
}

void CheckKafka(const config::Config& config, sinks::KafkaConfHandle conf, CheckReport& report) {
  std::string servers;
  for (const char* key : {"bootstrap.servers", "metadata.broker.list"}) {
    if (auto found = config.kafka.find(key); found != config.kafka.end()) servers = found->second;
  }
  const std::string what = "kafka " + servers;
  const std::string hint =
      "check kafka.bootstrap.servers (and the kafka.security.protocol / sasl.* / ssl.* properties); "
      "the brokers must be reachable from here";
  std::string last_error;
  rd_kafka_conf_set_error_cb(conf.get(), KeepKafkaError);
  rd_kafka_conf_set_opaque(conf.get(), &last_error);
  std::array<char, 512> error{};
  sinks::KafkaHandle producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
  if (!producer) {
    report.Fail(what, std::string("cannot create a Kafka client: ") + error.data(), hint);
    return;
  }
  static_cast<void>(conf.release());  // rd_kafka_new owns it once it succeeded
  const auto start = std::chrono::steady_clock::now();
  const rd_kafka_metadata_t* raw = nullptr;
  // Brokers only (no topic list): what any client asks first.
  const rd_kafka_resp_err_t code = rd_kafka_metadata(producer.get(), 0, nullptr, &raw, kKafkaTimeoutMs);
  KafkaMetadataHandle metadata(raw);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_poll(producer.get(), 0);  // serves the error callbacks queued meanwhile
    report.Fail(what,
                "no metadata within " + std::to_string(kKafkaTimeoutMs / 1000) + " s (" + rd_kafka_err2str(code) +
                    (last_error.empty() ? "" : "; last error: " + OneLine(last_error)) + ")",
                hint);
    return;
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  report.Ok(what + ": " + std::to_string(metadata->broker_cnt) + " broker(s) answered in " +
            std::to_string(elapsed.count()) + " ms");
  // KafkaConf succeeded above, so it does not throw here.
  for (const auto& line : CheckKafkaTopics(config, KafkaConf(config), kKafkaTimeoutMs)) {
    if (line.ok) {
      report.Ok(line.what + ": " + line.text);
    } else {
      report.Fail(line.what, line.text, line.hint);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// init

// SQL shown as a suggestion: its statements become comments, its comments stay as they are.
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


// The outbox tables no migration creates.
std::vector<config::TableName> OwnTables(const config::OutboxConfig& outbox) {
  std::vector<config::TableName> own;
  for (const auto& table : PublishedTables(outbox)) {
    if (!IsMigrationTable(table)) own.push_back(table);
  }
  return own;
}

void PrintInitSql(const config::Config& config, std::ostream& out) {
  const std::string& slot = config.source.slot;
  const std::string& publication = config.source.publication;
  const auto tables = PublishedTables(config.outbox);
  const auto own = OwnTables(config.outbox);
  out << "-- outbox-relay init --print-sql: what `outbox-relay init` creates where missing, for a DBA.\n"
      << "-- Database: " << DescribeDsn(config.source.dsn) << " (source.dsn; not connected)\n"
      << "\n-- 1. The outbox migrations, in order: schema, table, publish() function, publication\n"
      << "-- (" << kMigrationName << "); created_lsn column, publish_message() and purge() functions\n"
      << "-- (" << kMigrationV2Name << ").\n";
  if (!own.empty()) {
    out << "-- outbox.tables names " << TableList(own)
        << ", which no migration creates: create it (with the outbox columns of\n"
        << "-- outbox.outbox below, or set outbox.columns.*) before publishing it.\n";
  }
  for (const auto& migration : kOutboxMigrations) {
    out << "\n-- " << migration.path << "\n" << migration.sql;
    if (!migration.sql.empty() && migration.sql.back() != '\n') out << "\n";
  }
  if (publication != kMigrationPublication) {
    out << "\n-- The configured publication (source.publication).\n"
        << CreatePublicationSql(publication, tables) << "\n";
  } else if (!MigrationPublicationFits(config.outbox)) {
    out << "\n-- The migration's publication covers outbox.outbox; the relay reads outbox.tables.\n"
        << SetPublicationTablesSql(publication, tables) << "\n";
  }
  out << "\n-- 2. The replication slot (the relay also creates it at start while source.create_slot is\n"
      << "-- true). Run it on its own, not in the migrations' transaction: a logical slot cannot be\n"
      << "-- created in a transaction that has written.\n"
      << "SELECT pg_create_logical_replication_slot(" << QuoteLiteral(slot) << ", 'pgoutput')\n"
      << "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = " << QuoteLiteral(slot) << ");\n"
      << "-- Then record it (V3), so that after a failover its loss is reported, not silently repaired.\n"
      << RecordExistingSlotSql(QuoteLiteral(slot)) << ";\n"
      << "\n-- 3. Suggested: a least-privilege role for the relay (outbox/sql/relay_role.sql).\n"
      << CommentOut(kRelayRoleSql);
}

class InitReport {
 public:
  explicit InitReport(std::ostream& out) : out_(out) {}

  void Exists(const std::string& what) { out_ << "exists  " << what << "\n" << std::flush; }
  void Created(const std::string& what) {
    ++created_;
    out_ << "created " << what << "\n" << std::flush;
  }
  void Fail(const std::string& what, const std::string& problem, const std::string& hint) {
    out_ << "FAIL " << what << ": " << problem << "\n" << kHintIndent << hint << "\n" << std::flush;
  }
  void Dropped(const std::string& what) { out_ << "dropped " << what << "\n" << std::flush; }
  void Note(const std::string& text) { out_ << "note    " << text << "\n" << std::flush; }
  int CreatedCount() const { return created_; }

 private:
  std::ostream& out_;
  int created_ = 0;
};

struct MigrationObject {
  std::string what;
  std::string exists_sql;  // one boolean
};

struct Migration {
  std::string_view path;
  std::string_view sql;
  std::vector<MigrationObject> objects;  // what it creates, each with how to tell it exists
};

std::vector<Migration> Migrations() {
  static_assert(kOutboxMigrations.size() == 3, "list the objects of the new migration here");
  return {
      {kOutboxMigrations[0].path,
       kOutboxMigrations[0].sql,
       {
           {"schema outbox", "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'outbox')"},
           {"table outbox.outbox", "SELECT to_regclass('outbox.outbox') IS NOT NULL"},
           {"function outbox.publish",
            "SELECT to_regprocedure('outbox.publish(text, text, text, jsonb, jsonb)') IS NOT NULL"},
           {"publication outbox_relay", "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'outbox_relay')"},
       }},
      {kOutboxMigrations[1].path,
       kOutboxMigrations[1].sql,
       {
           // With its default: the column alone does not record anything.
           {"column outbox.outbox.created_lsn",
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('outbox.outbox') "
            "AND attname = 'created_lsn' AND atthasdef AND NOT attisdropped)"},
           {"function outbox.publish_message",
            "SELECT to_regprocedure('outbox.publish_message(text, text, text, jsonb, jsonb, text)') IS NOT NULL"},
           {"function outbox.purge", "SELECT to_regprocedure('outbox.purge(interval, name, regclass)') IS NOT NULL"},
       }},
      {kOutboxMigrations[2].path,
       kOutboxMigrations[2].sql,
       {
           {"table outbox.relay_slots", "SELECT to_regclass('outbox.relay_slots') IS NOT NULL"},
       }},
  };
}

bool PublicationExists(Database& db, const std::string& publication) {
  return QueryBool(db, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", {publication});
}

// The tables outbox.tables names besides outbox.outbox: no migration creates them, so they must
// exist already. Returns false after a FAIL line.
bool InitOwnTables(Database& db, const config::Config& config, InitReport& report) {
  for (const auto& table : OwnTables(config.outbox)) {
    const std::string name = QualifiedTable(table);
    if (QueryBool(db, "SELECT to_regclass($1) IS NOT NULL", {name})) {
      report.Exists("table " + name);
      continue;
    }
    report.Fail("outbox table " + name, "does not exist, and the migrations create outbox.outbox only",
                "create it with the outbox columns (outbox-relay init --print-sql shows them), or list "
                "outbox.outbox in outbox.tables instead");
    return false;
  }
  return true;
}

// Applies each migration that misses one of its objects, in order. Returns false after a FAIL line.
// V3 (outbox.relay_slots, the relay's record of its slot) applies whatever tables the config
// names: without it, slot-loss protection would be off for services with tables of their own.
bool InitMigrations(Database& db, const config::Config& config, InitReport& report) {
  const bool outbox_migrations = MigrationsApply(config.outbox);
  const std::string& publication = config.source.publication;
  const bool publication_existed = PublicationExists(db, std::string(kMigrationPublication));
  for (const auto& migration : Migrations()) {
    if (!outbox_migrations && migration.path != kMigrationV3Name) continue;
    std::vector<bool> existed;
    for (const auto& object : migration.objects) existed.push_back(QueryBool(db, object.exists_sql));
    // Only when something is missing: CREATE OR REPLACE FUNCTION would rewrite a function that
    // is already there, ALTER TABLE would lock the outbox, and a second init should change nothing.
    if (std::find(existed.begin(), existed.end(), false) != existed.end()) {
      try {
        db.Execute(std::string(migration.sql));
      } catch (const DatabaseError& error) {
        report.Fail(std::string(migration.path), error.what(),
                    "run init as a role that may create schemas and publications in this database (e.g. its "
                    "owner), or have a DBA run the output of outbox-relay init --print-sql");
        return false;
      }
    }
    for (std::size_t i = 0; i < migration.objects.size(); ++i) {
      if (existed[i]) {
        report.Exists(migration.objects[i].what);
      } else {
        report.Created(migration.objects[i].what);
      }
    }
  }
  // The migration created outbox_relay for outbox.outbox. When that is the configured
  // publication and the relay reads other tables, point it at them now, while it is new and
  // nobody else's (init never alters a publication it found).
  if (outbox_migrations && !publication_existed && publication == kMigrationPublication &&
      !MigrationPublicationFits(config.outbox)) {
    const std::string sql = SetPublicationTablesSql(publication, PublishedTables(config.outbox));
    try {
      db.Execute(sql);
    } catch (const DatabaseError& error) {
      report.Fail("publication " + publication, error.what(), "have the tables' owner run: " + sql);
      return false;
    }
  }
  return true;
}

bool InitPublication(Database& db, const config::Config& config, InitReport& report) {
  const std::string& publication = config.source.publication;
  const std::string what = "publication " + publication;
  if (publication == kMigrationPublication && MigrationsApply(config.outbox)) return true;  // a migration's
  if (PublicationExists(db, publication)) {
    // An existing publication may serve others too: init never alters it (check says if it fits).
    report.Exists(what);
    return true;
  }
  const std::string sql = CreatePublicationSql(publication, PublishedTables(config.outbox));
  try {
    db.Execute(sql);
  } catch (const DatabaseError& error) {
    report.Fail(what, error.what(), "have the tables' owner run: " + sql);
    return false;
  }
  report.Created(what);
  return true;
}

bool InitSlot(Database& db, const config::Config& config, bool recreate, InitReport& report) {
  const std::string& slot = config.source.slot;
  const std::string what = "slot " + slot;
  const std::string database = Text(db.Query("SELECT current_database()").front()[0]);
  const auto record = FindSlotRecord(db, slot);
  if (const auto row = FindSlot(db, slot)) {
    const bool lost = row->wal_status && *row->wal_status == "lost";
    if (auto problem = SlotUnusable(*row, slot, database); problem && !(lost && recreate)) {
      report.Fail(what, problem->problem, problem->hint);
      return false;
    }
    if (!lost) {
      // A slot made before V3, or by a DBA: remember it from now on.
      if (!record && QueryBool(db, "SELECT to_regclass('outbox.relay_slots') IS NOT NULL")) {
        db.Query(RecordExistingSlotSql("$1") + " RETURNING 1", {slot});
      }
      report.Exists(what);
      return true;
    }
    db.Query("SELECT 1 FROM pg_drop_replication_slot($1)", {slot});
    report.Dropped(what + " (wal_status lost)");
  } else if (record && !recreate) {
    report.Fail(what, pg::SlotGoneProblem(*record), std::string(pg::kRecreateSlotHint));
    return false;
  }
  std::string created_lsn;
  try {
    // Waits for transactions running now to finish: the slot's consistent point.
    const auto rows = db.Query("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
    created_lsn = Text(rows.front()[0]);
  } catch (const DatabaseError& error) {
    report.Fail(what, error.what(),
                "the role needs REPLICATION and the server wal_level = logical (outbox-relay check tells); or "
                "have a DBA run " + CreateSlotSql(slot));
    return false;
  }
  db.Query("INSERT INTO outbox.relay_slots (slot_name, created_lsn, recreated_at) VALUES ($1, $2::pg_lsn, "
           "CASE WHEN $3 THEN now() END) ON CONFLICT (slot_name) DO UPDATE SET created_lsn = EXCLUDED.created_lsn, "
           "created_at = now(), recreated_at = EXCLUDED.recreated_at RETURNING 1",
           {slot, created_lsn, recreate ? "true" : "false"});
  report.Created(what + " (pgoutput, from LSN " + created_lsn + ")");
  if (recreate) {
    report.Note("events committed before " + created_lsn +
                " that the old slot had not confirmed were not relayed: republish them with outbox-relay replay "
                "--from <the last event in Kafka, or the failover time> --to " + created_lsn);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// status

struct StatusRow {
  std::string label;
  std::string value;
};

std::optional<config::Config> Load(const std::string& config_path, std::ostream& err) {
  try {
    return LoadRelayConfig(config_path);
  } catch (const config::ConfigError& error) {
    err << "outbox-relay: config error: " << error.what() << "\n";
    return std::nullopt;
  }
}

}  // namespace

config::Config LoadRelayConfig(const std::string& config_path) {
  config::Config config = config::LoadConfig(config_path, config::ProcessEnvironment());
  // libpq's own parse error is not shown: it quotes the text around the mistake, which may be
  // the password.
  char* raw_error = nullptr;
  ConninfoHandle options(PQconninfoParse(config.source.dsn.c_str(), &raw_error));
  pg::PgBufferHandle error(raw_error);
  if (!options) {
    throw config::ConfigError("source.dsn", "is not a valid libpq connection string or postgresql:// URI");
  }
  base::AddSecrets(config::SecretValues(config));
  base::AddSecrets(pg::DsnSecrets(config.source.dsn));
  return config;
}

std::string DescribeDsn(const std::string& dsn) {
  char* raw_error = nullptr;
  ConninfoHandle options(PQconninfoParse(dsn.c_str(), &raw_error));
  pg::PgBufferHandle error(raw_error);
  if (!options) return "(unparsable DSN)";
  auto value = [&](std::string_view keyword) -> std::string {
    for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
      if (option->keyword == keyword && option->val != nullptr) return option->val;
    }
    return "";
  };
  std::string text;
  auto add = [&](const char* key, const std::string& part) {
    if (part.empty()) return;
    if (!text.empty()) text += ' ';
    text += std::string(key) + "=" + part;
  };
  // Only these four: the password, and sslkey/sslpassword paths, stay out of every message.
  const std::string host = value("host");
  add("host", host.empty() ? value("hostaddr") : host);
  add("port", value("port"));
  add("dbname", value("dbname"));
  add("user", value("user"));
  return text.empty() ? "(libpq defaults)" : text;
}

std::string VersionLine() {
  return "outbox-relay " + std::string(base::kVersion) + " (" + std::string(base::kGitRevision) + ")";
}

int CheckCommand(const std::string& config_path, std::ostream& out, std::ostream& err) {
  config::Config config;
  sinks::KafkaConfHandle kafka_conf;
  try {
    config = LoadRelayConfig(config_path);
    if (config.sink.type == config::SinkType::kKafka) kafka_conf = KafkaConf(config);
  } catch (const config::ConfigError& error) {
    err << "outbox-relay: config error: " << error.what() << "\n";
    return base::kExitConfig;
  }
  CheckReport report(out);
  report.Ok("config " + (config_path.empty() ? std::string("(environment only)") : config_path));
  if (config.sink.type == config::SinkType::kStdout) {
    report.Ok("sink stdout (sink.type): events are printed, and confirmed to the slot once written");
  } else {
    report.Ok(std::string("sink kafka (") +
              (config.sink.chosen_by_kafka_section ? "sink.type unset: the kafka settings select it" : "sink.type") +
              ")");
  }
  CheckDatabase(config, report);
  if (kafka_conf) CheckKafka(config, std::move(kafka_conf), report);
  return report.Failed() ? base::kExitFatal : base::kExitOk;
}

int InitCommand(const std::string& config_path, bool print_sql, bool recreate_slot, std::ostream& out,
                std::ostream& err) {
  const auto config = Load(config_path, err);
  if (!config) return base::kExitConfig;
  if (print_sql) {
    PrintInitSql(*config, out);
    return base::kExitOk;
  }
  InitReport report(out);
  std::optional<Database> db;
  try {
    db.emplace(config->source, "outbox-relay init", false, &err);
  } catch (const DatabaseError& error) {
    report.Fail("connect to " + DescribeDsn(config->source.dsn), error.what(),
                "check source.dsn (outbox-relay check tells more), or have a DBA run the output of "
                "outbox-relay init --print-sql");
    return base::kExitFatal;
  }
  out << "connected to " << db->Describe() << "\n";
  try {
    if (!InitOwnTables(*db, *config, report) || !InitMigrations(*db, *config, report) ||
        !InitPublication(*db, *config, report) || !InitSlot(*db, *config, recreate_slot, report)) {
      return base::kExitFatal;
    }
  } catch (const DatabaseError& error) {
    report.Fail("init", error.what(), "outbox-relay check shows what the database lacks");
    return base::kExitFatal;
  }
  if (report.CreatedCount() == 0) {
    out << "nothing to do: everything exists\n";
  } else {
    out << "done: created " << report.CreatedCount() << (report.CreatedCount() == 1 ? " object" : " objects")
        << "\n";
  }
  return base::kExitOk;
}

int StatusCommand(const std::string& config_path, bool json, std::ostream& out, std::ostream& err) {
  const auto config = Load(config_path, err);
  if (!config) return base::kExitConfig;
  const std::string& slot = config->source.slot;
  std::optional<Database> db;
  std::vector<Row> rows;
  std::string database;
  try {
    db.emplace(config->source, "outbox-relay status");
    database = Text(db->Query("SELECT current_database()").front()[0]);
    // A standby has no current WAL insert position; its replay position is what it has.
    rows = db->Query(
        "WITH w AS (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
        "ELSE pg_current_wal_lsn() END AS lsn) "
        "SELECT s.database, s.plugin, s.active, s.active_pid::text, s.confirmed_flush_lsn::text, "
        "s.restart_lsn::text, w.lsn::text, pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn)::bigint::text, "
        "pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint::text, s.wal_status, s.safe_wal_size::text "
        "FROM pg_replication_slots s, w WHERE s.slot_name = $1",
        {slot});
  } catch (const DatabaseError& error) {
    err << "outbox-relay: status: " << (db ? db->Describe() : DescribeDsn(config->source.dsn)) << ": "
        << error.what() << "\n";
    return base::kExitFatal;
  }
  if (rows.empty()) {
    if (json) {
      out << nlohmann::json{{"slot", slot}, {"exists", false}, {"database", database}}.dump() << "\n";
    }
    err << "outbox-relay: status: slot " << slot << " does not exist in database " << database << "\n"
        << kHintIndent << "outbox-relay init --config <file> creates it (so does the relay at start while "
           "source.create_slot is true)\n";
    return base::kExitFatal;
  }
  const Row& row = rows.front();
  auto integer_or_null = [](const Value& value) -> nlohmann::json {
    return value ? nlohmann::json(std::stoll(*value)) : nlohmann::json(nullptr);
  };
  auto text_or_null = [](const Value& value) -> nlohmann::json {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  if (json) {
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
    return base::kExitOk;
  }
  auto bytes = [](const Value& value) {
    return value ? *value + " (" + HumanBytes(std::stoll(*value)) + ")" : std::string("-");
  };
  const std::vector<StatusRow> table = {
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
  for (const auto& entry : table) width = std::max(width, entry.label.size());
  for (const auto& entry : table) {
    out << entry.label << std::string(width + 2 - entry.label.size(), ' ') << entry.value << "\n";
  }
  return base::kExitOk;
}

}  // namespace outbox_relay::ops
