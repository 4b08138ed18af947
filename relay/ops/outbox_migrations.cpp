#include "relay/ops/outbox_migrations.hpp"

#include <algorithm>

namespace outbox_relay::ops::detail {

std::vector<Migration> Migrations() {
  static_assert(kOutboxMigrations.size() == 3, "list the objects of the new migration here");
  return {
      {kOutboxMigrations[0].path,
       kOutboxMigrations[0].sql,
       {
           {"schema outbox", "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'outbox')"},
           {"table outbox.outbox", "SELECT to_regclass('outbox.outbox') IS NOT NULL"},
           {"function outbox.publish",
            "SELECT to_regprocedure('outbox.publish(text, text, text, jsonb, jsonb)') IS NOT NULL"},
           {"publication outbox_relay",
            "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'outbox_relay')"},
       }},
      {kOutboxMigrations[1].path,
       kOutboxMigrations[1].sql,
       {
           // With its default: the column alone does not record anything.
           {"column outbox.outbox.created_lsn",
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('outbox.outbox') "
            "AND attname = 'created_lsn' AND atthasdef AND NOT attisdropped)"},
           {"function outbox.publish_message",
            "SELECT to_regprocedure('outbox.publish_message(text, text, text, jsonb, jsonb, text)') IS NOT NULL"},
           {"function outbox.purge",
            "SELECT to_regprocedure('outbox.purge(interval, name, regclass)') IS NOT NULL"},
       }},
      {kOutboxMigrations[2].path,
       kOutboxMigrations[2].sql,
       {
           {"table outbox.relay_slots", "SELECT to_regclass('outbox.relay_slots') IS NOT NULL"},
       }},
  };
}

std::vector<Migration> InboxMigrations() {
  static_assert(kInboxMigrations.size() == 1, "list the objects of the new migration here");
  return {
      {kInboxMigrations[0].path,
       kInboxMigrations[0].sql,
       {
           {"schema inbox", "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'inbox')"},
           {"table inbox.processed", "SELECT to_regclass('inbox.processed') IS NOT NULL"},
           {"table inbox.positions", "SELECT to_regclass('inbox.positions') IS NOT NULL"},
           {"function inbox.apply_batch", "SELECT to_regprocedure('inbox.apply_batch(text, jsonb)') IS NOT NULL"},
           {"function inbox.purge", "SELECT to_regprocedure('inbox.purge(text, interval, integer)') IS NOT NULL"},
       }},
  };
}

bool IsMigrationTable(const config::TableName& table) {
  return table.schema == kMigrationSchema && table.name == kMigrationTable;
}

std::vector<config::TableName> PublishedTables(const config::OutboxConfig& outbox) {
  return outbox.CapturesTables() ? outbox.tables : std::vector<config::TableName>{};
}

bool MigrationPublicationFits(const config::OutboxConfig& outbox) {
  return !outbox.CapturesTables() || (outbox.tables.size() == 1 && IsMigrationTable(outbox.tables.front()));
}

bool MigrationsApply(const config::OutboxConfig& outbox) {
  return outbox.CapturesMessages() || std::any_of(outbox.tables.begin(), outbox.tables.end(), IsMigrationTable);
}

std::vector<config::TableName> OwnTables(const config::OutboxConfig& outbox) {
  std::vector<config::TableName> own;
  for (const auto& table : PublishedTables(outbox)) {
    if (!IsMigrationTable(table)) own.push_back(table);
  }
  return own;
}

}  // namespace outbox_relay::ops::detail
