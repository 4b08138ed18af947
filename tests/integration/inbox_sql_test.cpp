// The inbox's SQL (inbox/sql/V1__inbox.sql) against the harness's real PostgreSQL: idempotent
// migration, inbox.apply()'s deduplication, handler call and position, its all-or-nothing
// behaviour when the handler raises, and inbox.purge()'s retention. The first part of the
// transactional inbox (issue 21); the consumer that calls inbox.apply() comes on top of it.

#include <gtest/gtest.h>

#include <string>

#include "support/harness_env.hpp"
#include "support/pg_client.hpp"
#include "support/relay_process.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

class InboxSqlTest : public RelayIntegrationTest {
 protected:
  void SetUp() override {
    RelayIntegrationTest::SetUp();
    conn_ = std::make_unique<PgConnection>(CreateDatabase().Connect());
    RunTwice("V1__inbox.sql");
    // A service's handler, with a uuid id as the example has it.
    conn_->Exec(
        "CREATE SCHEMA seats; CREATE TABLE seats.effects (id uuid, type text, key text, seat int);"
        "CREATE FUNCTION seats.on_event(id uuid, type text, key text, headers jsonb, payload jsonb) RETURNS void "
        "LANGUAGE plpgsql AS $$ BEGIN IF payload->>'seat' = 'poison' THEN RAISE EXCEPTION 'no such seat'; END IF; "
        "INSERT INTO seats.effects VALUES (id, type, key, (payload->>'seat')::int); END $$");
  }

  // Runs inbox/sql/<file> twice: the scripts are idempotent.
  void RunTwice(const std::string& file) {
    const std::string sql = ReadFile(SourceDir() + "/inbox/sql/" + file);
    ASSERT_FALSE(sql.empty()) << "cannot read inbox/sql/" << file;
    conn_->Exec(sql);
    conn_->Exec(sql);
  }

  // inbox.apply() of inbox "seats" on topic "flights", partition 0; its result ("t"/"f").
  std::string Apply(long offset, const std::string& id, const std::string& key, const std::string& payload) {
    return conn_
        ->Exec("SELECT inbox.apply('seats', 'flights', 0, " + std::to_string(offset) + ", " +
               conn_->QuoteLiteral(id) + ", 'SeatReserved', " + conn_->QuoteLiteral(key) +
               ", '{\"trace\": \"t-1\"}', " + conn_->QuoteLiteral(payload) + ", 'seats.on_event')")
        .Text(0, 0);
  }

  std::string Query(const std::string& sql) { return conn_->Exec(sql).Text(0, 0); }

  std::unique_ptr<PgConnection> conn_;
};

constexpr const char* kFirst = "7f1c2a3e-0000-4000-8000-000000000001";
constexpr const char* kSecond = "7f1c2a3e-0000-4000-8000-000000000002";

TEST_F(InboxSqlTest, AppliesEachEventIdOnceAndStoresThePosition) {
  EXPECT_EQ(Apply(5, kFirst, "flight-1", "{\"seat\": 12}"), "t");
  // The same event again, as an at-least-once relay redelivers it: at another offset.
  EXPECT_EQ(Apply(9, kFirst, "flight-1", "{\"seat\": 12}"), "f");
  // A key that needs quoting reaches the handler intact.
  EXPECT_EQ(Apply(10, kSecond, "it's", "{\"seat\": 14}"), "t");
  EXPECT_EQ(Query("SELECT count(*) FROM seats.effects"), "2");
  EXPECT_EQ(Query("SELECT key FROM seats.effects WHERE id = '" + std::string(kSecond) + "'"), "it's");
  EXPECT_EQ(Query("SELECT next_offset FROM inbox.positions WHERE inbox_name = 'seats'"), "11");
  // A record read again after a rebalance never moves the position back.
  EXPECT_EQ(Apply(3, kSecond, "it's", "{\"seat\": 14}"), "f");
  EXPECT_EQ(Query("SELECT next_offset FROM inbox.positions WHERE inbox_name = 'seats'"), "11");
}

TEST_F(InboxSqlTest, AHandlerThatRaisesLeavesNeitherTheIdNorThePosition) {
  conn_->Exec("BEGIN");
  EXPECT_EQ(Apply(1, kFirst, "flight-1", "{\"seat\": 3}"), "t");
  bool raised = false;
  try {
    Apply(2, kSecond, "flight-1", "{\"seat\": \"poison\"}");
  } catch (const PgError& error) {
    raised = Contains(error.what(), "no such seat");
  }
  EXPECT_TRUE(raised) << "the handler's error must reach the caller";
  conn_->Exec("ROLLBACK");
  EXPECT_EQ(Query("SELECT count(*) FROM seats.effects"), "0");
  EXPECT_EQ(Query("SELECT count(*) FROM inbox.processed"), "0");
  EXPECT_EQ(Query("SELECT count(*) FROM inbox.positions"), "0");
}

TEST_F(InboxSqlTest, PurgeDeletesOnlyOldIdsOfItsInbox) {
  EXPECT_EQ(Apply(1, kFirst, "flight-1", "{\"seat\": 1}"), "t");
  EXPECT_EQ(Apply(2, kSecond, "flight-1", "{\"seat\": 2}"), "t");
  conn_->Exec("UPDATE inbox.processed SET applied_at = now() - interval '8 days' WHERE event_id = '" +
              std::string(kFirst) + "'");
  conn_->Exec(
      "INSERT INTO inbox.processed (inbox_name, event_id, topic, kafka_partition, kafka_offset, applied_at) "
      "VALUES ('tickets', 'x', 'flights', 0, 1, now() - interval '30 days')");
  EXPECT_EQ(Query("SELECT inbox.purge('seats', interval '7 days')"), "1");
  EXPECT_EQ(
      Query("SELECT string_agg(inbox_name || ':' || event_id, ',' ORDER BY inbox_name) FROM inbox.processed"),
      "seats:" + std::string(kSecond) + ",tickets:x");
}

// inbox_role.sql: the consumer's role applies events (with EXECUTE on the handler and what it
// writes) but may not delete ids, so it cannot run the retention job.
TEST_F(InboxSqlTest, TheConsumerRoleAppliesButCannotPurge) {
  RunTwice("inbox_role.sql");
  conn_->Exec(
      "GRANT USAGE ON SCHEMA seats TO outbox_inbox; GRANT INSERT ON seats.effects TO outbox_inbox;"
      "GRANT EXECUTE ON FUNCTION seats.on_event(uuid, text, text, jsonb, jsonb) TO outbox_inbox;"
      "SET ROLE outbox_inbox");
  EXPECT_EQ(Apply(1, kFirst, "flight-1", "{\"seat\": 1}"), "t");
  EXPECT_EQ(Apply(2, kFirst, "flight-1", "{\"seat\": 1}"), "f");
  std::string refused;
  try {
    Query("SELECT inbox.purge('seats', interval '0 seconds')");
  } catch (const PgError& error) {
    refused = error.what();
  }
  EXPECT_TRUE(Contains(refused, "permission denied")) << "purge as the consumer role: " << refused;
  conn_->Exec("RESET ROLE");
}

}  // namespace
}  // namespace outbox_relay::it
