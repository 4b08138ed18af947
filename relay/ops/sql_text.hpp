#pragma once

// SQL text the operator commands print in hints and in `init --print-sql`, or run, built
// without a connection (PQescapeIdentifier needs one). Pure.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace outbox_relay::ops::detail {

/// The server's WAL position as SQL: a standby has no insert position, its replay position is
/// what it has (and what a slot on it can reach).
inline constexpr std::string_view kServerWalPositionSql =
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END";

/// `name` as an identifier: bare when plain lower case and not a reserved word (so a hint reads
/// like what a DBA would type), else in double quotes with inner quotes doubled.
std::string QuoteIdentifier(std::string_view name);

/// `text` as a string literal, valid whatever standard_conforming_strings says: E'...' with
/// backslashes doubled when it holds one, '...' otherwise; quotes doubled.
std::string QuoteLiteral(std::string_view text);

/// schema.name, each part quoted as needed.
std::string QualifiedTable(const config::TableName& table);

/// "a.b, c.d": the tables, qualified, comma-separated.
std::string TableList(const std::vector<config::TableName>& tables);

/// A text[] literal for a query parameter: every element quoted, so no name is special.
std::string TextArray(const std::vector<std::string>& elements);

/// CREATE PUBLICATION for inserts only (a retention job's deletes must not become events),
/// FOR TABLE `tables` unless empty.
std::string CreatePublicationSql(const std::string& publication, const std::vector<config::TableName>& tables);

/// ALTER PUBLICATION ... SET TABLE `tables`.
std::string SetPublicationTablesSql(const std::string& publication, const std::vector<config::TableName>& tables);

/// SELECT pg_create_logical_replication_slot(`slot`, 'pgoutput');
std::string CreateSlotSql(const std::string& slot);

/// SELECT pg_drop_replication_slot(`slot`);
std::string DropSlotSql(const std::string& slot);

/// Records in outbox.relay_slots (V3) the existing slot `slot_sql` names, unless it is recorded
/// already. `slot_sql` is SQL: a quoted literal or a query parameter ("$1"). No semicolon.
std::string RecordExistingSlotSql(const std::string& slot_sql);

/// SQL shown as a suggestion: its statements become comments ("-- "), its comments stay as
/// they are; every line ends in a newline.
std::string CommentOut(std::string_view sql);

}  // namespace outbox_relay::ops::detail
