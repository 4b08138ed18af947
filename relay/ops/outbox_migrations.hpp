#pragma once

// The outbox migrations `init` applies (embedded from outbox/sql/, relay/ops/embedded_sql.hpp):
// what each creates and how to tell it exists, and which of them, and which publication, a
// config needs. Pure.

#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "relay/ops/embedded_sql.hpp"

namespace outbox_relay::ops::detail {

inline constexpr std::string_view kMigrationV1Name = kOutboxMigrations[0].path;
inline constexpr std::string_view kMigrationV2Name = kOutboxMigrations[1].path;
inline constexpr std::string_view kMigrationV3Name = kOutboxMigrations[2].path;

// The objects the migrations create; their names are fixed in the SQL, not taken from config.
inline constexpr std::string_view kMigrationSchema = "outbox";
inline constexpr std::string_view kMigrationTable = "outbox";
inline constexpr std::string_view kMigrationPublication = "outbox_relay";

struct MigrationObject {
  std::string what;        // "table outbox.outbox", for init's lines
  std::string exists_sql;  // one boolean
};

struct Migration {
  std::string_view path;
  std::string_view sql;
  std::vector<MigrationObject> objects;  // what it creates, each with how to tell it exists
};

/// Every embedded outbox migration, in the order they apply, with the objects each creates.
std::vector<Migration> Migrations();

/// The same for the inbox (`init --inbox`).
std::vector<Migration> InboxMigrations();

/// Whether `table` is outbox.outbox, the table V1 creates.
bool IsMigrationTable(const config::TableName& table);

/// What the publication must cover: the outbox tables, or nothing when only logical messages
/// are captured (pgoutput still wants a publication by name, but messages do not go through one).
std::vector<config::TableName> PublishedTables(const config::OutboxConfig& outbox);

/// Whether the migrations' own publication (outbox_relay, for outbox.outbox) is right for the
/// config as it is.
bool MigrationPublicationFits(const config::OutboxConfig& outbox);

/// Whether the migrations (V1, V2) apply: the config uses what they create, the table
/// outbox.outbox or publish_message() for logical messages. A config naming only tables of its
/// own gets neither: they would create an outbox nobody reads. V3 applies to every config.
bool MigrationsApply(const config::OutboxConfig& outbox);

/// The published tables no migration creates: they must exist before init.
std::vector<config::TableName> OwnTables(const config::OutboxConfig& outbox);

}  // namespace outbox_relay::ops::detail
