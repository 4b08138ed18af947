// `outbox-relay init --print-sql`: what init creates where missing, as SQL for a DBA.

#include <ostream>
#include <string>

#include "relay/ops/cli.hpp"
#include "relay/ops/init.hpp"
#include "relay/ops/outbox_migrations.hpp"
#include "relay/ops/sql_text.hpp"

namespace outbox_relay::ops::detail {

void PrintInitSql(const config::Config& config, std::ostream& out) {
  const std::string& slot = config.source.slot;
  const std::string& publication = config.source.publication;
  const auto tables = PublishedTables(config.outbox);
  const auto own = OwnTables(config.outbox);
  out << "-- outbox-relay init --print-sql: what `outbox-relay init` creates where missing, for a DBA.\n"
      << "-- Database: " << DescribeDsn(config.source.dsn) << " (source.dsn; not connected)\n"
      << "\n-- 1. The outbox migrations, in order: schema, table, publish() function, publication\n"
      << "-- (" << kMigrationV1Name << "); created_lsn column, publish_message() and purge() functions\n"
      << "-- (" << kMigrationV2Name << ").\n";
  if (!own.empty()) {
    out << "-- outbox.tables names " << TableList(own)
        << ", which no migration creates: create it (with the outbox columns of\n"
        << "-- outbox.outbox below, or set outbox.columns.*) before publishing it.\n";
  }
  for (const auto& migration : kOutboxMigrations) {
    out << "\n-- " << migration.path << "\n" << migration.sql;
    if (!migration.sql.empty() && migration.sql.back() != '\n') out << "\n";
  }
  if (publication != kMigrationPublication) {
    out << "\n-- The configured publication (source.publication).\n"
        << CreatePublicationSql(publication, tables) << "\n";
  } else if (!MigrationPublicationFits(config.outbox)) {
    out << "\n-- The migration's publication covers outbox.outbox; the relay reads outbox.tables.\n"
        << SetPublicationTablesSql(publication, tables) << "\n";
  }
  out << "\n-- 2. The replication slot (the relay also creates it at start while source.create_slot is\n"
      << "-- true). Run it on its own, not in the migrations' transaction: a logical slot cannot be\n"
      << "-- created in a transaction that has written.\n"
      << "SELECT pg_create_logical_replication_slot(" << QuoteLiteral(slot) << ", 'pgoutput')\n"
      << "WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = " << QuoteLiteral(slot) << ");\n"
      << "-- Then record it (V3), so that after a failover its loss is reported, not silently repaired.\n"
      << RecordExistingSlotSql(QuoteLiteral(slot)) << ";\n"
      << "\n-- 3. Suggested: a least-privilege role for the relay (outbox/sql/relay_role.sql).\n"
      << CommentOut(kRelayRoleSql);
}

void PrintInboxSql(const config::Config& config, std::ostream& out) {
  out << "-- outbox-relay init --inbox --print-sql: what `outbox-relay init --inbox` creates where missing.\n"
      << "-- Database: " << DescribeDsn(config.source.dsn) << " (source.dsn; not connected)\n";
  for (const auto& migration : kInboxMigrations) {
    out << "\n-- " << migration.path << "\n" << migration.sql;
    if (!migration.sql.empty() && migration.sql.back() != '\n') out << "\n";
  }
  out << "\n-- Suggested: a least-privilege role for the inbox (inbox/sql/inbox_role.sql).\n"
      << CommentOut(kInboxRoleSql);
}

}  // namespace outbox_relay::ops::detail
