#include "relay/ops/outbox_migrations.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace outbox_relay::ops::detail {
namespace {

config::OutboxConfig Outbox(std::vector<config::TableName> tables, config::CaptureMode capture) {
  config::OutboxConfig outbox;
  outbox.tables = std::move(tables);
  outbox.capture = capture;
  return outbox;
}

const config::TableName kMigrationOutbox{"outbox", "outbox"};
const config::TableName kOwnTable{"billing", "outbox"};

// Each embedded migration is listed in order with the objects init looks for.
TEST(OutboxMigrationsTest, ListsEveryEmbeddedMigrationInOrder) {
  const auto migrations = Migrations();
  ASSERT_EQ(migrations.size(), kOutboxMigrations.size());
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].path, kOutboxMigrations[i].path);
    EXPECT_FALSE(migrations[i].objects.empty());
  }
  EXPECT_EQ(migrations[2].path, kMigrationV3Name);
}

// The default config reads outbox.outbox: the migrations and their publication fit it.
TEST(OutboxMigrationsTest, TheDefaultOutboxUsesTheMigrations) {
  const config::OutboxConfig outbox;
  EXPECT_TRUE(IsMigrationTable(outbox.tables.front()));
  EXPECT_TRUE(MigrationsApply(outbox));
  EXPECT_TRUE(MigrationPublicationFits(outbox));
  EXPECT_EQ(PublishedTables(outbox), outbox.tables);
  EXPECT_TRUE(OwnTables(outbox).empty());
}

// Tables of one's own only: no migration but V3 applies, and they must exist before init.
TEST(OutboxMigrationsTest, OwnTablesAloneGetNoOutboxMigration) {
  const auto outbox = Outbox({kOwnTable}, config::CaptureMode::kTable);
  EXPECT_FALSE(IsMigrationTable(kOwnTable));
  EXPECT_FALSE(MigrationsApply(outbox));
  EXPECT_FALSE(MigrationPublicationFits(outbox));
  EXPECT_EQ(OwnTables(outbox), std::vector<config::TableName>{kOwnTable});
}

// outbox.outbox beside another table: the migrations apply, their publication must widen.
TEST(OutboxMigrationsTest, MixedTablesNeedTheWiderPublication) {
  const auto outbox = Outbox({kMigrationOutbox, kOwnTable}, config::CaptureMode::kTable);
  EXPECT_TRUE(MigrationsApply(outbox));
  EXPECT_FALSE(MigrationPublicationFits(outbox));
  EXPECT_EQ(OwnTables(outbox), std::vector<config::TableName>{kOwnTable});
}

// Messages only: publish_message() comes from the migrations, and no table is published.
TEST(OutboxMigrationsTest, MessagesOnlyPublishNoTable) {
  const auto outbox = Outbox({kOwnTable}, config::CaptureMode::kMessages);
  EXPECT_TRUE(MigrationsApply(outbox));
  EXPECT_TRUE(MigrationPublicationFits(outbox));
  EXPECT_TRUE(PublishedTables(outbox).empty());
  EXPECT_TRUE(OwnTables(outbox).empty());
}

}  // namespace
}  // namespace outbox_relay::ops::detail
