// `outbox-relay check`: the source database's server, replication settings, role and slot.

#include <string>

#include "relay/ops/check.hpp"
#include "relay/ops/slot_lookup.hpp"
#include "relay/ops/sql_text.hpp"
#include "relay/pg/replication_stream.hpp"
#include "relay/pg/server_features.hpp"

namespace outbox_relay::ops::detail {

base::Result<void> CheckServer(Database& db, const config::Config& config, CheckReport& report) {
  const pg::ServerFeatures server(db.ServerVersion());
  const std::string what = "PostgreSQL " + ServerVersionText(db.ServerVersion());
  if (!server.Supported()) {
    report.Fail(what, "the relay needs PostgreSQL " + std::to_string(pg::kOldestSupportedMajor) + " or later",
                "upgrade PostgreSQL");
  } else if (config.outbox.CapturesMessages() && !server.LogicalMessages()) {
    report.Fail(what, "tableless capture (outbox.capture: messages or both) needs PostgreSQL 14 or later",
                "set outbox.capture: table, or upgrade PostgreSQL");
  } else {
    report.Ok(what + " (pgoutput protocol " + std::to_string(server.ProtoVersion()) + ")");
  }
  return boost::outcome_v2::success();
}

base::Result<void> CheckFailover(Database& db, const config::Config& config, CheckReport& report) {
  const pg::ServerFeatures server(db.ServerVersion());
  const std::string what = "failover";
  if (!server.FailoverSlots()) {
    // Not a WARN: nothing to fix short of an upgrade, and the slot-loss protection covers it.
    report.Ok("failover: PostgreSQL " + std::to_string(server.Major()) +
              " has no failover slots; after a promotion the relay stops with the slot-loss error (17+ keeps "
              "the slot on standbys)");
    return boost::outcome_v2::success();
  }
  const auto found = db.QueryRow(
      "SELECT (SELECT failover FROM pg_replication_slots WHERE slot_name = $1), "
      "current_setting('synchronized_standby_slots'), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'physical' AND active), "
      // Physical standbys: the WAL senders that serve no logical slot.
      "(SELECT count(*) FROM pg_stat_replication WHERE pid NOT IN (SELECT active_pid FROM pg_replication_slots "
      "WHERE slot_type = 'logical' AND active_pid IS NOT NULL))",
      {config.source.slot});
  if (!found) return found.error();
  const Row& row = found.value();
  const bool slot_exists = row[0].has_value();
  if (slot_exists && !Bool(row[0])) {
    report.Warn(
        what, "slot " + config.source.slot + " is not a failover slot: a promotion loses it",
        "ALTER_REPLICATION_SLOT " + QuoteIdentifier(config.source.slot) +
            " (FAILOVER true) over a replication connection, or recreate it with source.slot_failover: true");
  } else if (!slot_exists && !config.source.slot_failover) {
    report.Warn(what, "source.slot_failover is false: the slot the relay creates does not survive a promotion",
                "set source.slot_failover: true");
  } else if (Integer(row[2]) == 0 && Integer(row[3]) == 0) {
    // A server without standbys has nothing to fail over to: nothing to fix here.
    report.Ok(
        "failover: no standby streams from this server; a standby with sync_replication_slots = on would "
        "keep the failover slot");
  } else if (Integer(row[2]) == 0) {
    report.Warn(what, "standbys stream without a physical slot: none keeps a copy of the slot",
                "set primary_slot_name on each standby (a physical slot here) and sync_replication_slots = on");
  } else if (Text(row[1]).empty()) {
    report.Warn(what,
                "synchronized_standby_slots is empty: the slot may confirm changes a standby has not "
                "received, and a promoted standby's copy of it is then not usable",
                "ALTER SYSTEM SET synchronized_standby_slots = '<the standby's physical slot>'; SELECT "
                "pg_reload_conf(); on the standby: sync_replication_slots = on, hot_standby_feedback = on, and "
                "dbname in primary_conninfo");
  } else {
    report.Ok("failover: a failover slot, synchronized_standby_slots = " + Text(row[1]));
  }
  return boost::outcome_v2::success();
}

base::Result<bool> CheckStandby(Database& db, const config::Config& config, CheckReport& report) {
  const auto found = db.QueryRow(
      "SELECT pg_is_in_recovery(), current_setting('hot_standby_feedback')::bool, "
      "current_setting('primary_slot_name')");
  if (!found) return found.error();
  const Row& row = found.value();
  if (!Bool(row[0])) return false;
  const pg::ServerFeatures server(db.ServerVersion());
  const std::string what = "standby";
  if (!server.DecodingOnStandby()) {
    report.Fail(what,
                "source.dsn is a hot standby, and logical decoding on a standby needs PostgreSQL 16 or later",
                "point source.dsn at the primary, or upgrade PostgreSQL");
  } else if (!Bool(row[1])) {
    report.Fail(what,
                "source.dsn is a hot standby with hot_standby_feedback off: the primary may remove rows the "
                "slot still needs, and the standby then invalidates the slot",
                "on the standby: ALTER SYSTEM SET hot_standby_feedback = on; SELECT pg_reload_conf();");
  } else if (Text(row[2]).empty()) {
    report.Warn(what,
                "source.dsn is a hot standby that streams without a physical slot (primary_slot_name is "
                "empty): its feedback is lost while it is disconnected, and the slot may be invalidated",
                "create a physical slot on the primary and set primary_slot_name on the standby");
  } else if (config.heartbeat.dsn.empty() && config.heartbeat.interval.count() > 0) {
    report.Warn(what,
                "source.dsn is a hot standby, which cannot write the heartbeat: an idle outbox holds WAL on "
                "the standby, and the slot-loss record (outbox.relay_slots) cannot be written",
                "set heartbeat.dsn to the primary");
  } else {
    report.Ok("standby: decoding on a hot standby (hot_standby_feedback on, primary_slot_name " + Text(row[2]) +
              (config.heartbeat.dsn.empty() ? ")" : ", heartbeat to heartbeat.dsn)"));
  }
  return true;
}

base::Result<void> CheckWalLevel(Database& db, CheckReport& report) {
  const auto level = db.QueryValue("SELECT current_setting('wal_level')");
  if (!level) return level.error();
  if (Text(level.value()) == "logical") {
    report.Ok("wal_level is logical");
  } else {
    report.Fail("wal_level", "is " + Text(level.value()) + ", logical decoding needs logical",
                "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL");
  }
  return boost::outcome_v2::success();
}

base::Result<void> CheckRoom(Database& db, const config::Config& config, CheckReport& report) {
  const auto found = db.QueryRow(
      "SELECT current_setting('max_replication_slots')::int, "
      "(SELECT count(*) FROM pg_replication_slots), "
      "(SELECT active FROM pg_replication_slots WHERE slot_name = $1), "
      "current_setting('max_wal_senders')::int, "
      "(SELECT count(*) FROM pg_stat_replication)",
      {config.source.slot});
  if (!found) return found.error();
  const Row& row = found.value();
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
    report.Fail(
        slots_what,
        "all " + std::to_string(max_slots) + " in use (max_replication_slots), none for " + config.source.slot,
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
    report.Fail(
        senders_what, "all " + std::to_string(max_senders) + " in use (max_wal_senders)",
        "ALTER SYSTEM SET max_wal_senders = " + std::to_string(max_senders + 1) + "; then restart PostgreSQL");
  }
  return boost::outcome_v2::success();
}

base::Result<SourceRole> CheckRole(Database& db, CheckReport& report) {
  const auto found = db.QueryRow(
      "SELECT current_user, rolsuper, rolreplication, EXISTS (SELECT FROM pg_roles WHERE rolname = "
      "'rds_replication') AND pg_has_role(current_user, 'rds_replication', 'member') "
      "FROM pg_roles WHERE rolname = current_user");
  if (!found) return found.error();
  const Row& row = found.value();
  SourceRole role{Text(row[0]), true};
  if (Bool(row[1])) {
    report.Ok("role " + role.name + " is a superuser");
  } else if (Bool(row[2])) {
    report.Ok("role " + role.name + " has REPLICATION");
  } else if (Bool(row[3])) {
    report.Ok("role " + role.name + " is a member of rds_replication");
  } else {
    role.granted = false;  // the replication connection decides (CheckReplicationConnection)
  }
  return role;
}

void CheckReplicationConnection(const config::Config& config, const SourceRole& role, CheckReport& report) {
  const std::string what = "replication connection";
  auto replication = Database::Connect(config.source, "outbox-relay check", Database::Session::kReplication);
  const base::Result<void> identified =
      replication ? replication.value().Execute("IDENTIFY_SYSTEM") : base::Result<void>(replication.error());
  if (!identified && !role.granted) {
    report.Fail("role " + role.name,
                "has neither REPLICATION nor superuser, and its replication connection was refused (" +
                    identified.error().message + ")",
                "ALTER ROLE " + QuoteIdentifier(role.name) + " REPLICATION; (on RDS: GRANT rds_replication TO " +
                    QuoteIdentifier(role.name) + ";)");
    return;
  }
  if (!role.granted) {
    report.Ok(
        "role " + role.name +
        " has no REPLICATION attribute, but its replication connection works (granted by a provider's role)");
  }
  if (!identified) {
    report.Fail(what, identified.error().message,
                "let this user connect to this database in pg_hba.conf (logical replication "
                "connections match by database name) and keep a WAL sender free");
    return;
  }
  report.Ok(what);
}

base::Result<void> CheckSlot(Database& db, const config::Config& config, CheckReport& report) {
  const std::string& slot = config.source.slot;
  const std::string what = "slot " + slot;
  const auto database = db.QueryValue("SELECT current_database()");
  if (!database) return database.error();
  const auto row = FindSlot(db, slot);
  if (!row) return row.error();
  if (!row.value()) {
    const auto record = FindSlotRecord(db, slot);
    if (!record) return record.error();
    if (record.value()) {
      report.Fail(what, pg::SlotGoneProblem(*record.value()), std::string(pg::kRecreateSlotHint));
    } else if (config.source.create_slot) {
      report.Ok(what + " does not exist yet; the relay creates it at start (source.create_slot)");
    } else {
      report.Fail(what, "does not exist and source.create_slot is false",
                  "outbox-relay init --config <file>, or " + CreateSlotSql(slot));
    }
    return boost::outcome_v2::success();
  }
  const SlotRow& found = *row.value();
  if (auto problem = SlotUnusable(found, slot, Text(database.value()))) {
    report.Fail(what, problem->problem, problem->hint);
    return boost::outcome_v2::success();
  }
  report.Ok(what + " (pgoutput, database " + Text(database.value()) + ", " +
            (found.active ? "active, pid " + found.active_pid.value_or("?") : std::string("inactive")) + ")");
  return boost::outcome_v2::success();
}

}  // namespace outbox_relay::ops::detail
