#include "relay/ops/database.hpp"

#include <libpq-fe.h>

#include <ostream>
#include <string_view>
#include <utility>

#include "relay/ops/cli.hpp"
#include "relay/ops/command_output.hpp"
#include "relay/pg/pg_conninfo.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::ops::detail {
namespace {

// A DSN without connect_timeout would let an unreachable host hang an operator's command for
// the kernel's TCP timeout; the DSN's own value still wins.
constexpr const char* kConnectTimeoutSeconds = "10";

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

void ForwardWarning(void* stream, const PGresult* notice) {
  const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char* message = PQresultErrorField(notice, PG_DIAG_MESSAGE_PRIMARY);
  if (stream == nullptr || severity == nullptr || message == nullptr || std::string_view(severity) != "WARNING") {
    return;
  }
  *static_cast<std::ostream*>(stream) << "outbox-relay: PostgreSQL warning: " << OneLine(message) << "\n";
}

}  // namespace

std::string Text(const Value& value) { return value.value_or(""); }
bool Bool(const Value& value) { return value && *value == "t"; }
std::int64_t Integer(const Value& value) { return value ? std::stoll(*value) : 0; }

std::string ServerVersionText(int version) {
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000);
}

base::ErrorKind KindOfSqlState(const std::string& sqlstate) {
  return pg::sqlstate::IsRetryable(sqlstate) ? base::ErrorKind::kRetryable : base::ErrorKind::kConfiguration;
}

base::Result<Database> Database::Connect(const config::SourceConfig& source, const char* application_name,
                                         Session session, std::ostream* warnings) {
  // The DSN's own connect_timeout / application_name win over these defaults; `replication`
  // comes last because a replication session is what that check tests.
  pg::PgConnectParams::Pairs overrides;
  if (session == Session::kReplication) overrides.emplace_back("replication", "database");
  const pg::PgConnectParams params(
      source, {{"connect_timeout", kConnectTimeoutSeconds}, {"application_name", application_name}}, overrides);
  pg::PgConnHandle conn(PQconnectdbParams(params.Keywords(), params.Values(), 1));
  if (!conn) return base::Error::Fatal("out of memory creating a libpq connection");
  PQsetNoticeReceiver(conn.get(), ForwardWarning, warnings);
  if (PQstatus(conn.get()) != CONNECTION_OK) return base::Error::Retryable(OneLine(PQerrorMessage(conn.get())));
  std::string description = DescribeConnection(conn.get());
  if (description.empty()) description = DescribeDsn(source.dsn);
  return Database(std::move(conn), std::move(description));
}

int Database::ServerVersion() const { return PQserverVersion(conn_.get()); }

base::Result<std::vector<Row>> Database::Query(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  const pg::PgResultHandle result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                               values.data(), nullptr, nullptr, 0));
  return Rows(result.get());
}

base::Result<Row> Database::QueryRow(const std::string& sql, const std::vector<std::string>& params) {
  auto rows = Query(sql, params);
  if (!rows) return rows.error();
  // The commands ask this only of queries that always return a row (aggregates, settings).
  if (rows.value().empty()) return base::Error::Fatal("a query that returns one row returned none");
  return std::move(rows.value().front());
}

base::Result<Value> Database::QueryValue(const std::string& sql, const std::vector<std::string>& params) {
  auto row = QueryRow(sql, params);
  if (!row) return row.error();
  return std::move(row.value().front());
}

base::Result<bool> Database::QueryBool(const std::string& sql, const std::vector<std::string>& params) {
  const auto value = QueryValue(sql, params);
  if (!value) return value.error();
  return Bool(value.value());
}

base::Result<void> Database::Execute(const std::string& sql) {
  const pg::PgResultHandle result(PQexec(conn_.get(), sql.c_str()));
  const auto rows = Rows(result.get());
  if (!rows) return rows.error();
  return boost::outcome_v2::success();
}

base::Result<std::vector<Row>> Database::Rows(const PGresult* result) {
  const auto status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    // No result: out of memory, or the connection broke; both may pass on a later attempt.
    if (result == nullptr) return base::Error::Retryable(OneLine(PQerrorMessage(conn_.get())));
    std::string message = OneLine(PQresultErrorMessage(result));
    if (const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) {
      message = OneLine(primary);
      if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
        message += " (" + OneLine(detail) + ")";
      }
    }
    const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const std::string code = sqlstate != nullptr ? sqlstate : "";
    return base::Error{KindOfSqlState(code), std::move(message), {}, code};
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

}  // namespace outbox_relay::ops::detail
