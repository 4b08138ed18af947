#include "relay/pg/source_privileges.hpp"

#include <libpq-fe.h>

#include <string>
#include <string_view>
#include <vector>

#include "base/logging.hpp"
#include "relay/pg/pg_connection.hpp"
#include "relay/pg/server_features.hpp"

namespace outbox_relay::pg {

namespace {

using boost::asio::awaitable;

// The role has no replication attribute of its own; a provider may still let it replicate.
awaitable<bool> ReplicationConnectionWorks(boost::asio::io_context& io, const config::SourceConfig& source) {
  PgConnection replication(io, source, PgConnection::Mode::kReplication);
  try {
    co_await replication.Connect();
    co_await replication.Execute("IDENTIFY_SYSTEM");
  } catch (const ReplicationError& error) {
    base::RelayLog().debug("replication connection refused: {}", error.what());
    co_return false;
  }
  replication.Close();
  co_return true;
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string joined;
  for (const auto& part : parts) {
    if (!joined.empty()) joined += separator;
    joined += part;
  }
  return joined;
}

}  // namespace

awaitable<void> RequireSourcePrivileges(boost::asio::io_context& io, const config::Config& config) {
  PgConnection conn(io, config.source, PgConnection::Mode::kNormal);
  co_await conn.Connect();
  const ServerFeatures server(PQserverVersion(conn.Native()));
  if (!server.Supported()) {
    throw ReplicationError("PostgreSQL " + std::to_string(server.Major()) + " is not supported: the relay needs " +
                               std::to_string(kOldestSupportedMajor) + " or later",
                           false);
  }
  if (config.outbox.CapturesMessages() && !server.LogicalMessages()) {
    throw ReplicationError(
        "outbox.capture: tableless capture needs PostgreSQL 14 or later (pgoutput's messages "
        "option), this server is " +
            std::to_string(server.Major()) + "; set outbox.capture: table",
        false);
  }
  const auto role = co_await conn.Execute(
      "SELECT current_user, rolsuper OR rolreplication OR (EXISTS (SELECT FROM pg_roles WHERE rolname = "
      "'rds_replication') AND pg_has_role(current_user, 'rds_replication', 'member')) "
      "FROM pg_roles WHERE rolname = current_user");
  const std::string name = PQgetvalue(role.get(), 0, 0);
  const std::string quoted_role = conn.Escape(PgConnection::Quoting::kIdentifier, name);
  std::vector<std::string> missing;
  std::vector<std::string> grants;
  if (std::string_view(PQgetvalue(role.get(), 0, 1)) != "t") {
    if (co_await ReplicationConnectionWorks(io, config.source)) {
      base::RelayLog().info("role {} has no REPLICATION attribute, but its replication connection works", name);
    } else {
      missing.push_back("REPLICATION");
      grants.push_back("ALTER ROLE " + quoted_role + " REPLICATION; (on RDS: GRANT rds_replication TO " +
                       quoted_role + ";)");
    }
  }
  if (config.outbox.CapturesTables()) {
    for (const auto& table : config.outbox.tables) {
      // By catalog lookup: naming the table would fail outright without USAGE on its schema.
      const auto readable = co_await conn.Execute(
          "SELECT has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') "
          "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = " +
          conn.Escape(PgConnection::Quoting::kLiteral, table.schema) +
          " AND c.relname = " + conn.Escape(PgConnection::Quoting::kLiteral, table.name));
      if (PQntuples(readable.get()) != 1 || std::string_view(PQgetvalue(readable.get(), 0, 0)) == "t") continue;
      const std::string schema = conn.Escape(PgConnection::Quoting::kIdentifier, table.schema);
      missing.push_back("SELECT on " + table.Qualified());
      grants.push_back("GRANT USAGE ON SCHEMA " + schema + " TO " + quoted_role + "; GRANT SELECT ON " + schema +
                       "." + conn.Escape(PgConnection::Quoting::kIdentifier, table.name) + " TO " + quoted_role +
                       ";");
    }
  }
  conn.Close();
  if (!missing.empty()) {
    throw ReplicationError("role " + name + " lacks " + Join(missing, " and ") +
                               " (the relay needs REPLICATION and SELECT on outbox.tables; as a superuser: " +
                               Join(grants, " ") + ")",
                           false);
  }
}

}  // namespace outbox_relay::pg
