#include "support/pg_client.hpp"

#include <libpq-fe.h>

#include <memory>
#include <utility>

namespace outbox_relay::it {
namespace {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

PgResult Convert(PGconn* conn, PGresult* raw, const std::string& what) {
  ResultPtr result(raw);
  if (result == nullptr) {
    throw PgError(what + ": " + Trim(PQerrorMessage(conn)));
  }
  auto status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw PgError(what + ": " + Trim(PQresultErrorMessage(result.get())));
  }
  PgResult out;
  int columns = PQnfields(result.get());
  int rows = PQntuples(result.get());
  out.columns.reserve(static_cast<std::size_t>(columns));
  for (int c = 0; c < columns; ++c) out.columns.emplace_back(PQfname(result.get(), c));
  out.rows.reserve(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    std::vector<PgValue> row;
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(result.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                     static_cast<std::size_t>(PQgetlength(result.get(), r, c))));
      }
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

std::string Abbreviate(const std::string& sql) { return sql.size() > 120 ? sql.substr(0, 117) + "..." : sql; }

struct ParamArrays {
  std::vector<const char*> values;
  explicit ParamArrays(const std::vector<PgValue>& params) {
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  }
};

}  // namespace

const PgValue& PgResult::At(std::size_t row, std::size_t column) const {
  if (row >= rows.size() || column >= rows[row].size()) {
    throw PgError("result has no row " + std::to_string(row) + " column " + std::to_string(column));
  }
  return rows[row][column];
}

const std::string& PgResult::Text(std::size_t row, std::size_t column) const {
  const auto& value = At(row, column);
  if (!value) {
    throw PgError("NULL at row " + std::to_string(row) + " column " + std::to_string(column));
  }
  return *value;
}

PgConnection::PgConnection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string message = conn_ != nullptr ? Trim(PQerrorMessage(conn_)) : "out of memory";
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
    throw PgError("connect (" + conninfo + "): " + message);
  }
  Exec("SET client_min_messages = warning");
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

PgConnection::PgConnection(PgConnection&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}

PgConnection& PgConnection::operator=(PgConnection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
  }
  return *this;
}

PgResult PgConnection::Exec(const std::string& sql) {
  return Convert(conn_, PQexec(conn_, sql.c_str()), Abbreviate(sql));
}

PgResult PgConnection::ExecParams(const std::string& sql, const std::vector<PgValue>& params) {
  ParamArrays arrays(params);
  return Convert(conn_,
                 PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, arrays.values.data(),
                              nullptr, nullptr, 0),
                 Abbreviate(sql));
}

void PgConnection::Prepare(const std::string& name, const std::string& sql, int param_count) {
  Convert(conn_, PQprepare(conn_, name.c_str(), sql.c_str(), param_count, nullptr), "prepare " + name);
}

PgResult PgConnection::ExecPrepared(const std::string& name, const std::vector<PgValue>& params) {
  ParamArrays arrays(params);
  return Convert(conn_,
                 PQexecPrepared(conn_, name.c_str(), static_cast<int>(params.size()), arrays.values.data(),
                                nullptr, nullptr, 0),
                 "execute " + name);
}

std::string PgConnection::QuoteIdent(const std::string& identifier) const {
  char* quoted = PQescapeIdentifier(conn_, identifier.c_str(), identifier.size());
  if (quoted == nullptr) throw PgError("PQescapeIdentifier: " + Trim(PQerrorMessage(conn_)));
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

std::string PgConnection::QuoteLiteral(const std::string& literal) const {
  char* quoted = PQescapeLiteral(conn_, literal.c_str(), literal.size());
  if (quoted == nullptr) throw PgError("PQescapeLiteral: " + Trim(PQerrorMessage(conn_)));
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

}  // namespace outbox_relay::it
