// The commands the relay sends each PostgreSQL major, byte for byte: a word the server does not
// know ends the stream ("unrecognized pgoutput option", a syntax error), on that major only.

#include "relay/pg/server_features.hpp"

#include <gtest/gtest.h>

#include <string>

namespace outbox_relay::pg {
namespace {

const Lsn kStart = Lsn(0x16B3748);
constexpr std::string_view kSlot = "\"outbox_slot\"";
constexpr std::string_view kPublications = "'\"outbox_pub\"'";

TEST(ServerFeaturesTest, MajorAndSupport) {
  EXPECT_EQ(ServerFeatures(130023).Major(), 13);
  EXPECT_EQ(ServerFeatures(180004).Major(), 18);
  EXPECT_TRUE(ServerFeatures(130000).Supported());
  EXPECT_FALSE(ServerFeatures(120022).Supported());
}

TEST(ServerFeaturesTest, HighestPgoutputProtocolPerMajor) {
  EXPECT_EQ(ServerFeatures(130023).ProtoVersion(), 1);
  EXPECT_EQ(ServerFeatures(140023).ProtoVersion(), 2);
  EXPECT_EQ(ServerFeatures(150015).ProtoVersion(), 3);
  EXPECT_EQ(ServerFeatures(160014).ProtoVersion(), 4);
  EXPECT_EQ(ServerFeatures(170010).ProtoVersion(), 4);
  EXPECT_EQ(ServerFeatures(180004).ProtoVersion(), 4);
}

TEST(ServerFeaturesTest, FeaturesArriveWithTheirMajor) {
  EXPECT_FALSE(ServerFeatures(130023).LogicalMessages());
  EXPECT_TRUE(ServerFeatures(140000).LogicalMessages());
  EXPECT_FALSE(ServerFeatures(140023).SlotOptionList());
  EXPECT_TRUE(ServerFeatures(150000).SlotOptionList());
  EXPECT_FALSE(ServerFeatures(150015).DecodingOnStandby());
  EXPECT_TRUE(ServerFeatures(160000).DecodingOnStandby());
  EXPECT_FALSE(ServerFeatures(160014).FailoverSlots());
  EXPECT_TRUE(ServerFeatures(170000).FailoverSlots());
}

TEST(ServerFeaturesTest, StartReplicationOn13HasNoMessagesOption) {
  EXPECT_EQ(StartReplicationCommand(ServerFeatures(130023), kSlot, kStart, kPublications),
            "START_REPLICATION SLOT \"outbox_slot\" LOGICAL 0/16B3748 (proto_version '1', "
            "publication_names '\"outbox_pub\"')");
}

TEST(ServerFeaturesTest, StartReplicationFrom14AsksForMessages) {
  EXPECT_EQ(StartReplicationCommand(ServerFeatures(140023), kSlot, kStart, kPublications),
            "START_REPLICATION SLOT \"outbox_slot\" LOGICAL 0/16B3748 (proto_version '2', "
            "publication_names '\"outbox_pub\"', messages 'true')");
  EXPECT_EQ(StartReplicationCommand(ServerFeatures(180004), kSlot, kStart, kPublications),
            "START_REPLICATION SLOT \"outbox_slot\" LOGICAL 0/16B3748 (proto_version '4', "
            "publication_names '\"outbox_pub\"', messages 'true')");
}

TEST(ServerFeaturesTest, CreateSlotSpellingPerMajor) {
  EXPECT_EQ(CreateSlotCommand(ServerFeatures(130023), kSlot, true),
            "CREATE_REPLICATION_SLOT \"outbox_slot\" LOGICAL pgoutput NOEXPORT_SNAPSHOT");
  EXPECT_EQ(CreateSlotCommand(ServerFeatures(140023), kSlot, true),
            "CREATE_REPLICATION_SLOT \"outbox_slot\" LOGICAL pgoutput NOEXPORT_SNAPSHOT");
  EXPECT_EQ(CreateSlotCommand(ServerFeatures(160014), kSlot, true),
            "CREATE_REPLICATION_SLOT \"outbox_slot\" LOGICAL pgoutput (SNAPSHOT 'nothing')");
  EXPECT_EQ(CreateSlotCommand(ServerFeatures(170010), kSlot, true),
            "CREATE_REPLICATION_SLOT \"outbox_slot\" LOGICAL pgoutput (SNAPSHOT 'nothing', FAILOVER true)");
  EXPECT_EQ(CreateSlotCommand(ServerFeatures(170010), kSlot, false),
            "CREATE_REPLICATION_SLOT \"outbox_slot\" LOGICAL pgoutput (SNAPSHOT 'nothing')");
}

}  // namespace
}  // namespace outbox_relay::pg
