// `outbox-relay init` (InitCommand): creates what is missing, in order: the tables init cannot
// create are there, the migrations, the publication, the slot. `--print-sql` is in
// init_print_sql.cpp.

#include <algorithm>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "base/exit_code.hpp"
#include "relay/ops/cli.hpp"
#include "relay/ops/command_config.hpp"
#include "relay/ops/command_output.hpp"
#include "relay/ops/database.hpp"
#include "relay/ops/init.hpp"
#include "relay/ops/outbox_migrations.hpp"
#include "relay/ops/slot_lookup.hpp"
#include "relay/ops/sql_text.hpp"
#include "relay/pg/server_features.hpp"

namespace outbox_relay::ops {
namespace detail {
namespace {

// `exists  <what>`, `created <what>`, `dropped <what>`, `note    <text>` and `FAIL` lines.
class InitReport {
 public:
  explicit InitReport(std::ostream& out) : output_(out) {}

  void Exists(const std::string& what) { output_.Line("exists  ", what); }
  void Created(const std::string& what) {
    ++created_;
    output_.Line("created ", what);
  }
  void Fail(const std::string& what, const std::string& problem, const std::string& hint) {
    output_.Problem("FAIL ", what, problem, hint);
  }
  void Dropped(const std::string& what) { output_.Line("dropped ", what); }
  void Note(const std::string& text) { output_.Line("note    ", text); }
  int CreatedCount() const { return created_; }

 private:
  CommandOutput output_;
  int created_ = 0;
};

// Each step below returns false after its FAIL line (init stops there), or an error for a query
// that failed where nothing was expected to (InitCommand reports it).
using Step = base::Result<bool>;

base::Result<bool> PublicationExists(Database& db, const std::string& publication) {
  return db.QueryBool("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", {publication});
}

// The tables outbox.tables names besides outbox.outbox: no migration creates them, so they must
// exist already.
Step InitOwnTables(Database& db, const config::Config& config, InitReport& report) {
  for (const auto& table : OwnTables(config.outbox)) {
    const std::string name = QualifiedTable(table);
    const auto exists = db.QueryBool("SELECT to_regclass($1) IS NOT NULL", {name});
    if (!exists) return exists.error();
    if (exists.value()) {
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

// Applies `migration` if one of its objects is missing.
Step ApplyMigration(Database& db, const Migration& migration, InitReport& report) {
  std::vector<bool> existed;
  for (const auto& object : migration.objects) {
    const auto exists = db.QueryBool(object.exists_sql);
    if (!exists) return exists.error();
    existed.push_back(exists.value());
  }
  // Only when something is missing: CREATE OR REPLACE FUNCTION would rewrite a function that
  // is already there, ALTER TABLE would lock the outbox, and a second init should change nothing.
  if (std::find(existed.begin(), existed.end(), false) != existed.end()) {
    if (const auto applied = db.Execute(std::string(migration.sql)); !applied) {
      report.Fail(std::string(migration.path), applied.error().message,
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
  return true;
}

// Applies each migration that misses one of its objects, in order.
// V3 (outbox.relay_slots, the relay's record of its slot) applies whatever tables the config
// names: without it, slot-loss protection would be off for services with tables of their own.
Step InitMigrations(Database& db, const config::Config& config, InitReport& report) {
  const bool outbox_migrations = MigrationsApply(config.outbox);
  const std::string& publication = config.source.publication;
  const auto publication_existed = PublicationExists(db, std::string(kMigrationPublication));
  if (!publication_existed) return publication_existed.error();
  for (const auto& migration : Migrations()) {
    if (!outbox_migrations && migration.path != kMigrationV3Name) continue;
    const Step applied = ApplyMigration(db, migration, report);
    if (!applied || !applied.value()) return applied;
  }
  // The migration created outbox_relay for outbox.outbox. When that is the configured
  // publication and the relay reads other tables, point it at them now, while it is new and
  // nobody else's (init never alters a publication it found).
  if (outbox_migrations && !publication_existed.value() && publication == kMigrationPublication &&
      !MigrationPublicationFits(config.outbox)) {
    const std::string sql = SetPublicationTablesSql(publication, PublishedTables(config.outbox));
    if (const auto altered = db.Execute(sql); !altered) {
      report.Fail("publication " + publication, altered.error().message, "have the tables' owner run: " + sql);
      return false;
    }
  }
  return true;
}

Step InitPublication(Database& db, const config::Config& config, InitReport& report) {
  const std::string& publication = config.source.publication;
  const std::string what = "publication " + publication;
  if (publication == kMigrationPublication && MigrationsApply(config.outbox)) return true;  // a migration's
  const auto exists = PublicationExists(db, publication);
  if (!exists) return exists.error();
  if (exists.value()) {
    // An existing publication may serve others too: init never alters it (check says if it fits).
    report.Exists(what);
    return true;
  }
  const std::string sql = CreatePublicationSql(publication, PublishedTables(config.outbox));
  if (const auto created = db.Execute(sql); !created) {
    report.Fail(what, created.error().message, "have the tables' owner run: " + sql);
    return false;
  }
  report.Created(what);
  return true;
}

Step InitSlot(Database& db, const config::Config& config, bool recreate, InitReport& report) {
  const std::string& slot = config.source.slot;
  const std::string what = "slot " + slot;
  const auto database = db.QueryValue("SELECT current_database()");
  if (!database) return database.error();
  const auto record = FindSlotRecord(db, slot);
  if (!record) return record.error();
  const auto row = FindSlot(db, slot);
  if (!row) return row.error();
  if (row.value()) {
    const SlotRow& found = *row.value();
    const bool lost = found.wal_status && *found.wal_status == "lost";
    if (auto problem = SlotUnusable(found, slot, Text(database.value())); problem && !(lost && recreate)) {
      report.Fail(what, problem->problem, problem->hint);
      return false;
    }
    if (!lost) {
      // A slot made before V3, or by a DBA: remember it from now on.
      if (!record.value()) {
        const auto recordable = db.QueryBool("SELECT to_regclass('outbox.relay_slots') IS NOT NULL");
        if (!recordable) return recordable.error();
        if (recordable.value()) {
          const auto recorded = db.Query(RecordExistingSlotSql("$1") + " RETURNING 1", {slot});
          if (!recorded) return recorded.error();
        }
      }
      report.Exists(what);
      return true;
    }
    const auto dropped = db.Query("SELECT 1 FROM pg_drop_replication_slot($1)", {slot});
    if (!dropped) return dropped.error();
    report.Dropped(what + " (wal_status lost)");
  } else if (record.value() && !recreate) {
    report.Fail(what, pg::SlotGoneProblem(*record.value()), std::string(pg::kRecreateSlotHint));
    return false;
  }
  // Waits for transactions running now to finish: the slot's consistent point. Arguments from
  // 17: slot, plugin, temporary, two-phase, failover.
  const bool failover = config.source.slot_failover && pg::ServerFeatures(db.ServerVersion()).FailoverSlots();
  const auto created = db.QueryValue(
      failover ? "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput', false, false, true)"
               : "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
      {slot});
  if (!created) {
    report.Fail(what, created.error().message,
                "the role needs REPLICATION and the server wal_level = logical (outbox-relay check tells); or "
                "have a DBA run " +
                    CreateSlotSql(slot));
    return false;
  }
  const std::string created_lsn = Text(created.value());
  const auto remembered = db.Query(
      "INSERT INTO outbox.relay_slots (slot_name, created_lsn, recreated_at) VALUES ($1, $2::pg_lsn, "
      "CASE WHEN $3 THEN now() END) ON CONFLICT (slot_name) DO UPDATE SET created_lsn = EXCLUDED.created_lsn, "
      "created_at = now(), recreated_at = EXCLUDED.recreated_at RETURNING 1",
      {slot, created_lsn, recreate ? "true" : "false"});
  if (!remembered) return remembered.error();
  report.Created(what + " (pgoutput, from LSN " + created_lsn + ")");
  if (recreate) {
    report.Note("events committed before " + created_lsn +
                " that the old slot had not confirmed were not relayed: republish them with outbox-relay replay "
                "--from <the last event in Kafka, or the failover time> --to " +
                created_lsn);
  }
  return true;
}

}  // namespace
}  // namespace detail

int InitCommand(const std::string& config_path, const InitOptions& options, std::ostream& out, std::ostream& err) {
  const auto config = detail::LoadCommandConfig(config_path, err);
  if (!config) return base::kExitConfig;
  if (options.print_sql) {
    if (options.inbox) {
      detail::PrintInboxSql(*config, out);
    } else {
      detail::PrintInitSql(*config, out);
    }
    return base::kExitOk;
  }
  detail::InitReport report(out);
  auto connected =
      detail::Database::Connect(config->source, "outbox-relay init", detail::Database::Session::kNormal, &err);
  if (!connected) {
    report.Fail("connect to " + DescribeDsn(config->source.dsn), connected.error().message,
                "check source.dsn (outbox-relay check tells more), or have a DBA run the output of "
                "outbox-relay init --print-sql");
    return base::kExitFatal;
  }
  detail::Database& db = connected.value();
  out << "connected to " << db.Describe() << "\n";
  std::vector<std::function<detail::Step()>> steps;
  if (options.inbox) {
    // The inbox's objects only: a consuming database needs no outbox, publication or slot.
    for (const auto& migration : detail::InboxMigrations()) {
      steps.emplace_back([&, migration] { return detail::ApplyMigration(db, migration, report); });
    }
  } else {
    steps = {
        [&] { return detail::InitOwnTables(db, *config, report); },
        [&] { return detail::InitMigrations(db, *config, report); },
        [&] { return detail::InitPublication(db, *config, report); },
        [&] { return detail::InitSlot(db, *config, options.recreate_slot, report); },
    };
  }
  for (const auto& step : steps) {
    const detail::Step done = step();
    if (!done) report.Fail("init", done.error().message, "outbox-relay check shows what the database lacks");
    if (!done || !done.value()) return base::kExitFatal;
  }
  if (report.CreatedCount() == 0) {
    out << "nothing to do: everything exists\n";
  } else {
    out << "done: created " << report.CreatedCount() << (report.CreatedCount() == 1 ? " object" : " objects")
        << "\n";
  }
  return base::kExitOk;
}

}  // namespace outbox_relay::ops
