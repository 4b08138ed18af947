#include "relay/ops/slot_lookup.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace outbox_relay::ops::detail {
namespace {

using ::testing::HasSubstr;

SlotRow Usable() { return {"pgoutput", "logical", "shop", false, std::nullopt, "reserved"}; }

// A logical pgoutput slot of this database with its WAL kept is the relay's to use.
TEST(SlotLookupTest, ALogicalPgoutputSlotOfThisDatabaseFits) {
  EXPECT_FALSE(SlotUnusable(Usable(), "outbox_relay", "shop"));
  SlotRow no_wal_status = Usable();
  no_wal_status.wal_status.reset();
  EXPECT_FALSE(SlotUnusable(no_wal_status, "outbox_relay", "shop"));
}

// A physical slot or another plugin: drop it or pick another name.
TEST(SlotLookupTest, AnotherKindOfSlotIsToDropOrRename) {
  SlotRow physical = Usable();
  physical.slot_type = "physical";
  const auto problem = SlotUnusable(physical, "outbox_relay", "shop");
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->problem, "is a physical slot, the relay needs a logical one");
  EXPECT_THAT(problem->hint, HasSubstr("pg_drop_replication_slot('outbox_relay')"));

  SlotRow wal2json = Usable();
  wal2json.plugin = "wal2json";
  ASSERT_TRUE(SlotUnusable(wal2json, "outbox_relay", "shop"));
  EXPECT_EQ(SlotUnusable(wal2json, "outbox_relay", "shop")->problem, "uses plugin wal2json, the relay needs pgoutput");
}

// A slot of another database names both databases.
TEST(SlotLookupTest, ASlotOfAnotherDatabaseNamesBoth) {
  const auto problem = SlotUnusable(Usable(), "outbox_relay", "billing");
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->problem, "belongs to database shop, source.dsn connects to billing");
  EXPECT_THAT(problem->hint, HasSubstr("point source.dsn at database shop"));
}

// A lost slot may have lost events: recreating it is the operator's decision.
TEST(SlotLookupTest, ALostSlotNeedsTheOperatorsDecision) {
  SlotRow lost = Usable();
  lost.wal_status = "lost";
  const auto problem = SlotUnusable(lost, "outbox_relay", "shop");
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->problem, pg::kSlotLostProblem);
  EXPECT_EQ(problem->hint, pg::kRecreateSlotHint);
}

}  // namespace
}  // namespace outbox_relay::ops::detail
