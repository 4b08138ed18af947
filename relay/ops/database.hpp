#pragma once

// The operator commands' PostgreSQL session: one blocking libpq connection to the source
// database. The commands run outside the relay's io_context, so waiting on the server here
// stalls nothing else. Expected failures (server unreachable, permission denied, a missing
// table) come back as base::Error values, not exceptions.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "config/config.hpp"
#include "relay/pg/pg_handles.hpp"

namespace outbox_relay::ops::detail {

using Value = std::optional<std::string>;  // nullopt: SQL NULL
using Row = std::vector<Value>;

/// A text value; "" for NULL.
std::string Text(const Value& value);
/// A boolean value ("t"); false for NULL.
bool Bool(const Value& value);
/// An integer value; 0 for NULL. Throws std::invalid_argument / std::out_of_range for a value
/// that is no integer (a query bug).
std::int64_t Integer(const Value& value);

/// 150018 → "15.18" (PostgreSQL 10 and later number major.minor).
std::string ServerVersionText(int version);

/// The kind of a failed statement: configuration when the operator must change something first
/// (credentials, database, a missing object or privilege: sqlstate::IsRetryable), else retryable.
base::ErrorKind KindOfSqlState(const std::string& sqlstate);

class Database {
 public:
  enum class Session { kNormal, kReplication };

  /// Connects with source.dsn and the source's TLS / password settings, a 10 s connect_timeout
  /// and `application_name` unless the DSN sets them. A replication session speaks the
  /// replication protocol (IDENTIFY_SYSTEM). Server warnings (e.g. CREATE PUBLICATION under
  /// wal_level replica) go to `warnings` if given; notices ("already exists, skipping") are
  /// dropped: the commands print their own lines. Blocks up to the connect timeout. The error's
  /// message is libpq's, on one line; a failed connect is retryable (libpq keeps no SQLSTATE
  /// for it, and an unreachable server is what it usually means).
  static base::Result<Database> Connect(const config::SourceConfig& source, const char* application_name,
                                        Session session = Session::kNormal, std::ostream* warnings = nullptr);

  /// host/port/dbname/user of the session, never the password.
  const std::string& Describe() const { return description_; }
  int ServerVersion() const;

  /// Extended protocol, text parameters and results. A failed statement's error message is the
  /// server's primary message, with its detail in parentheses; its kind is KindOfSqlState's.
  base::Result<std::vector<Row>> Query(const std::string& sql, const std::vector<std::string>& params = {});
  /// The first row of Query; an error if there is none.
  base::Result<Row> QueryRow(const std::string& sql, const std::vector<std::string>& params = {});
  /// The first value of QueryRow.
  base::Result<Value> QueryValue(const std::string& sql, const std::vector<std::string>& params = {});
  /// Bool() of QueryValue.
  base::Result<bool> QueryBool(const std::string& sql, const std::vector<std::string>& params = {});

  /// Simple protocol: several statements run as one implicit transaction.
  base::Result<void> Execute(const std::string& sql);

 private:
  Database(pg::PgConnHandle conn, std::string description)
      : conn_(std::move(conn)), description_(std::move(description)) {}

  base::Result<std::vector<Row>> Rows(const PGresult* result);

  pg::PgConnHandle conn_;
  std::string description_;
};

}  // namespace outbox_relay::ops::detail
