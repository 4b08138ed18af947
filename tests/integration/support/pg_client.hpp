#pragma once

// A small synchronous PostgreSQL client over libpq for the tests: run SQL, read rows as text.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct pg_conn;

namespace outbox_relay::it {

class PgError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using PgValue = std::optional<std::string>;  // nullopt is SQL NULL

struct PgResult {
  std::vector<std::string> columns;
  std::vector<std::vector<PgValue>> rows;

  std::size_t Size() const { return rows.size(); }
  bool Empty() const { return rows.empty(); }
  /// Row `row`, column `column` as text; throws PgError if NULL or out of range.
  const std::string& Text(std::size_t row, std::size_t column) const;
  const PgValue& At(std::size_t row, std::size_t column) const;
};

class PgConnection {
 public:
  /// Connects (libpq conninfo). Throws PgError with the server's message on failure.
  explicit PgConnection(const std::string& conninfo);
  ~PgConnection();
  PgConnection(PgConnection&& other) noexcept;
  PgConnection& operator=(PgConnection&& other) noexcept;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  /// Simple query protocol: may hold several statements; returns the last one's rows.
  PgResult Exec(const std::string& sql);
  /// Extended protocol with text parameters ($1, $2, ...); cast them in the SQL.
  PgResult ExecParams(const std::string& sql, const std::vector<PgValue>& params);
  void Prepare(const std::string& name, const std::string& sql, int param_count);
  PgResult ExecPrepared(const std::string& name, const std::vector<PgValue>& params);

  std::string QuoteIdent(const std::string& identifier) const;
  std::string QuoteLiteral(const std::string& literal) const;

 private:
  pg_conn* conn_ = nullptr;
};

}  // namespace outbox_relay::it
