#pragma once

// The operator subcommands of outbox-relay: check, init, status, version. They run before or
// beside the streaming relay, one blocking libpq session each, never on the relay's io_context.

#include <iosfwd>
#include <string>

#include "config/config.hpp"

namespace outbox_relay::ops {

/// config::LoadConfig with the process environment, plus what only libpq can tell (source.dsn
/// parses); then registers every secret of the config, the DSN's password included, for
/// redaction (base/redaction.hpp). Throws config::ConfigError. Every command loads through it.
config::Config LoadRelayConfig(const std::string& config_path);

/// `outbox-relay check`: validates the config, then the database (connection, wal_level,
/// slot / WAL sender room, REPLICATION, publication, each of outbox.tables: existence, columns,
/// SELECT — none with outbox.capture: messages —, outbox.publish_message() when messages are
/// captured, slot) and, for the kafka sink, the brokers. One `ok   <what>` line or `FAIL <what>: <problem>` +
/// `     hint: <fix>` lines per check on `out`. Returns 0 (all ok), 1 (a FAIL) or 2 (config
/// error, one line on `err`). Never prints the DSN's password.
int CheckCommand(const std::string& config_path, std::ostream& out, std::ostream& err);

/// `outbox-relay init`: creates what is missing (the embedded migrations V1__outbox.sql,
/// V2__publish_message_purge.sql, V3__relay_slots.sql, each only if one of its objects is missing; the configured
/// publication over outbox.tables; the pgoutput slot) and prints one line per object.
/// Idempotent. Tables of outbox.tables other than outbox.outbox must exist already. With
/// `print_sql`, prints the SQL a DBA would run instead (the migrations), without connecting.
/// A missing slot that outbox.relay_slots remembers is a FAIL (events may be missing) unless
/// `recreate_slot`, the operator's explicit decision: then it is created anew (a slot with
/// wal_status lost is dropped first) and the gap to republish is printed. With `inbox`, the
/// inbox's migration (inbox/sql/V1__inbox.sql) instead, and nothing of the relay's.
/// Returns 0, 1 (a database error) or 2 (config error).
struct InitOptions {
  bool print_sql = false;
  bool recreate_slot = false;
  bool inbox = false;
};
int InitCommand(const std::string& config_path, const InitOptions& options, std::ostream& out, std::ostream& err);

/// `outbox-relay status`: the slot's activity, confirmed flush LSN, lag and retained WAL, as
/// an aligned table or (with `json`) one JSON object. Returns 0, 1 (no such slot, or no
/// database) or 2 (config error).
int StatusCommand(const std::string& config_path, bool json, std::ostream& out, std::ostream& err);

/// `outbox-relay check --inbox`: the inbox's config, the consuming database (the inbox schema,
/// privileges, each handler: exists once, EXECUTE, five arguments), the brokers and each
/// consumed topic. Returns 0, 1 (a FAIL) or 2 (config error, no inbox.handlers included).
int CheckInboxCommand(const std::string& config_path, std::ostream& out, std::ostream& err);

/// `outbox-relay status --inbox`: per consumed partition the stored position, Kafka's end
/// offset and the lag; the number of remembered event ids. Returns 0, 1 or 2.
int StatusInboxCommand(const std::string& config_path, bool json, std::ostream& out, std::ostream& err);

/// "outbox-relay <version> (<git describe>)".
std::string VersionLine();

/// "host=h port=p dbname=d user=u" for a libpq conninfo or URI: what a message may show of a
/// DSN, which can hold a password. Absent parts are left out; "(unparsable DSN)" if libpq
/// cannot parse it.
std::string DescribeDsn(const std::string& dsn);

}  // namespace outbox_relay::ops
