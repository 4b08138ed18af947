#include "inbox/inbox_store.hpp"

#include <utility>

#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::inbox {

FailureKind KindOfFailure(const std::string& sqlstate) {
  namespace state = pg::sqlstate;
  // No SQLSTATE: the connection failed or broke. Class 40: serialization failure, deadlock;
  // 08 connection, 53 resources, 57 operator intervention (a restart), 55P03 a lock timeout.
  if (sqlstate.empty() || state::InClass(sqlstate, "40") || state::InClass(sqlstate, "08") ||
      state::InClass(sqlstate, "53") || state::InClass(sqlstate, "57") || sqlstate == "55P03") {
    return FailureKind::kTransient;
  }
  // Not a property of an event: the database or the configuration lacks something.
  if (!state::IsRetryable(sqlstate) || state::InClass(sqlstate, "3F")) return FailureKind::kSetup;
  return FailureKind::kEvent;
}

InboxStore::InboxStore(config::SourceConfig source, std::string inbox_name)
    : source_(std::move(source)), inbox_name_(std::move(inbox_name)) {}

base::Result<std::vector<ops::detail::Row>> InboxStore::Query(const std::string& sql,
                                                              const std::vector<std::string>& params) {
  if (!database_) {
    auto connected = ops::detail::Database::Connect(source_, "outbox-relay inbox");
    if (!connected) return connected.error();
    database_.emplace(std::move(connected.value()));
  }
  auto rows = database_->Query(sql, params);
  // After a failure the session may be gone; a fresh one costs little against the pause before
  // the retry, and nothing of the failed transaction survives in it.
  if (!rows) database_.reset();
  return rows;
}

base::Result<std::map<std::int32_t, std::int64_t>> InboxStore::Positions(const std::string& topic) {
  auto rows =
      Query("SELECT kafka_partition, next_offset FROM inbox.positions WHERE inbox_name = $1 AND topic = $2",
            {inbox_name_, topic});
  if (!rows) return rows.error();
  std::map<std::int32_t, std::int64_t> positions;
  for (const auto& row : rows.value()) {
    positions[static_cast<std::int32_t>(ops::detail::Integer(row[0]))] = ops::detail::Integer(row[1]);
  }
  return positions;
}

base::Result<ApplyCounts> InboxStore::ApplyBatch(const std::string& batch) {
  auto rows = Query("SELECT applied, duplicates FROM inbox.apply_batch($1, $2::jsonb)", {inbox_name_, batch});
  if (!rows) return rows.error();
  const auto& row = rows.value().front();
  return ApplyCounts{ops::detail::Integer(row[0]), ops::detail::Integer(row[1])};
}

base::Result<std::vector<std::string>> InboxStore::MissingFunctions(const std::vector<std::string>& functions) {
  std::vector<std::string> missing;
  std::vector<std::string> names = functions;
  names.emplace_back("inbox.apply_batch");
  for (const std::string& name : names) {
    // to_regproc is NULL for a missing function and for an overloaded name alike: inbox.apply()
    // calls the handler by its name, which must name one function.
    auto rows = Query("SELECT to_regproc($1) IS NULL", {name});
    if (!rows) return rows.error();
    if (ops::detail::Bool(rows.value().front()[0])) missing.push_back(name);
  }
  return missing;
}

}  // namespace outbox_relay::inbox
