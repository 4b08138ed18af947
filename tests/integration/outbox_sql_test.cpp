// Acceptance tests of the SQL in outbox/sql/ against the harness's real PostgreSQL 15: the
// migrations' idempotence and upgrade path, outbox.publish_message()'s logical messages,
// outbox.purge()'s retention rule, and the least-privilege role of relay_role.sql.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/harness_env.hpp"
#include "support/lsn_text.hpp"
#include "support/pg_client.hpp"
#include "support/relay_process.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

constexpr auto kSlotDeadline = 60s;

std::string Sql(const std::string& file) {
  const std::string path = SourceDir() + "/outbox/sql/" + file;
  std::string sql = ReadFile(path);
  if (sql.empty()) throw std::runtime_error("cannot read " + path);
  return sql;
}

// The error of running `sql`, or "" if it succeeded.
std::string ErrorOf(PgConnection& conn, const std::string& sql) {
  try {
    conn.Exec(sql);
  } catch (const PgError& error) {
    return error.what();
  }
  return "";
}

class OutboxSqlTest : public RelayIntegrationTest {
 protected:
  static void ApplyV1(PgConnection& conn) { conn.Exec(Sql("V1__outbox.sql")); }
  static void ApplyV2(PgConnection& conn) { conn.Exec(Sql("V2__publish_message_purge.sql")); }
  // Whatever the fixture applied: no outbox at all.
  static void DropOutbox(PgConnection& conn) {
    conn.Exec("DROP PUBLICATION IF EXISTS outbox_relay; DROP SCHEMA IF EXISTS outbox CASCADE");
  }

  // What both migrations must leave, however often they ran: one of each function, the column
  // with its default, and the publication of inserts into outbox.outbox only.
  static void ExpectMigratedShape(PgConnection& conn) {
    const auto functions = conn.Exec(
        "SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace AND proname = "
        "'publish'), "
        "(SELECT count(*) FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace AND proname = "
        "'publish_message'), "
        "(SELECT count(*) FROM pg_proc WHERE pronamespace = 'outbox'::regnamespace AND proname = 'purge'), "
        "to_regprocedure('outbox.publish_message(text,text,text,jsonb,jsonb,text)') IS NOT NULL, "
        "to_regprocedure('outbox.purge(interval,name,regclass)') IS NOT NULL");
    EXPECT_EQ(functions.Text(0, 0), "1") << "outbox.publish overloads";
    EXPECT_EQ(functions.Text(0, 1), "1") << "outbox.publish_message overloads";
    EXPECT_EQ(functions.Text(0, 2), "1") << "outbox.purge overloads";
    EXPECT_EQ(functions.Text(0, 3), "t") << "outbox.publish_message has not the documented signature";
    EXPECT_EQ(functions.Text(0, 4), "t") << "outbox.purge has not the documented signature";
    const auto column = conn.Exec(
        "SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = 'outbox.outbox'::regclass AND a.attname = 'created_lsn' AND NOT a.attisdropped");
    ASSERT_EQ(column.Size(), 1u) << "no column outbox.outbox.created_lsn";
    EXPECT_EQ(column.Text(0, 0), "pg_lsn");
    EXPECT_EQ(column.Text(0, 1), "f") << "created_lsn must stay nullable: V1 rows have none";
    EXPECT_EQ(column.At(0, 2).value_or("(no default)"), "pg_current_wal_insert_lsn()");
    const auto publication = conn.Exec(
        "SELECT pubinsert, pubupdate, pubdelete, pubtruncate, puballtables, "
        "(SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables t "
        "WHERE t.pubname = p.pubname) "
        "FROM pg_publication p WHERE pubname = 'outbox_relay'");
    ASSERT_EQ(publication.Size(), 1u) << "no publication outbox_relay";
    EXPECT_EQ(publication.Text(0, 0), "t") << "the publication must publish inserts";
    EXPECT_EQ(publication.Text(0, 1), "f") << "the publication must not publish updates";
    EXPECT_EQ(publication.Text(0, 2), "f") << "the publication must not publish deletes (purge)";
    EXPECT_EQ(publication.Text(0, 3), "f") << "the publication must not publish truncates";
    EXPECT_EQ(publication.Text(0, 4), "f");
    EXPECT_EQ(publication.At(0, 5).value_or(""), "outbox.outbox");
  }

  static std::string RelFileNode(PgConnection& conn) {
    return conn.Exec("SELECT pg_relation_filenode('outbox.outbox')::text").Text(0, 0);
  }

  // Stands in for the relay confirming everything written so far: advances `slot` to the
  // server's WAL position, with a CHECKPOINT first so a running-transactions record lies behind
  // that position (catalog_xmin moves only there). Repeats until `confirmed` holds.
  static bool ConfirmUntil(PgConnection& conn, const std::string& slot, const std::function<bool()>& confirmed) {
    const auto deadline = std::chrono::steady_clock::now() + kSlotDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      conn.Exec("CHECKPOINT");
      conn.ExecParams("SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())", {slot});
      if (confirmed()) return true;
      std::this_thread::sleep_for(100ms);  // poll interval, not a condition
    }
    return false;
  }

  // True when the slot's catalog_xmin is past the transaction that inserted the row
  // aggregateid = `row`: what outbox.purge() calls confirmed.
  static bool RowConfirmed(PgConnection& conn, const std::string& slot, const std::string& row) {
    return conn.ExecParams(
                   "SELECT age(o.xmin) > age(s.catalog_xmin) FROM outbox.outbox o, pg_replication_slots s "
                   "WHERE s.slot_name = $1 AND o.aggregateid = $2",
                   {slot, row})
               .Text(0, 0) == "t";
  }

  static std::vector<std::string> AggregateIds(PgConnection& conn) {
    std::vector<std::string> ids;
    const auto rows = conn.Exec("SELECT aggregateid FROM outbox.outbox ORDER BY aggregateid");
    for (std::size_t i = 0; i < rows.Size(); ++i) ids.push_back(rows.Text(i, 0));
    return ids;
  }
};

// V2 on a V1 outbox that holds rows adds created_lsn without rewriting the table: old rows keep
// NULL, new rows get their WAL insert position; V1 and V2 run again change nothing.
TEST_F(OutboxSqlTest, V2UpgradesAV1OutboxWithRowsAndBothRunTwiceIdempotently) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  DropOutbox(conn);
  ApplyV1(conn);  // an outbox installed before V2 existed
  conn.Exec("SELECT outbox.publish('order', 'v1-a', 'OrderPlaced', '{\"n\": 1}'::jsonb)");
  conn.Exec("SELECT outbox.publish('order', 'v1-b', 'OrderPlaced', '{\"n\": 2}'::jsonb, '{\"h\": \"x\"}'::jsonb)");
  const std::string filenode = RelFileNode(conn);

  ApplyV2(conn);
  EXPECT_EQ(RelFileNode(conn), filenode) << "V2 rewrote outbox.outbox";
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM outbox.outbox WHERE created_lsn IS NULL").Text(0, 0), "2")
      << "the V1 rows must be kept, with created_lsn NULL";

  const auto before = ParseLsnText(conn.Exec("SELECT pg_current_wal_insert_lsn()::text").Text(0, 0));
  conn.Exec("SELECT outbox.publish('order', 'v2-c', 'OrderPlaced', '{\"n\": 3}'::jsonb)");
  const auto after = ParseLsnText(conn.Exec("SELECT pg_current_wal_lsn()::text").Text(0, 0));
  const auto created = conn.Exec("SELECT created_lsn::text FROM outbox.outbox WHERE aggregateid = 'v2-c'");
  ASSERT_TRUE(created.At(0, 0).has_value()) << "a row inserted after V2 has no created_lsn";
  const auto created_lsn = ParseLsnText(created.Text(0, 0));
  ASSERT_TRUE(before && after && created_lsn);
  EXPECT_GE(*created_lsn, *before);
  EXPECT_LE(*created_lsn, *after);

  for (int round = 0; round < 2; ++round) {
    ApplyV1(conn);
    ApplyV2(conn);
  }
  EXPECT_EQ(RelFileNode(conn), filenode) << "running the migrations again rewrote outbox.outbox";
  ExpectMigratedShape(conn);
  EXPECT_EQ(AggregateIds(conn), (std::vector<std::string>{"v1-a", "v1-b", "v2-c"}));
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM outbox.outbox WHERE created_lsn IS NULL").Text(0, 0), "2");
  EXPECT_EQ(conn.Exec("SELECT created_lsn::text FROM outbox.outbox WHERE aggregateid = 'v2-c'").Text(0, 0),
            created.Text(0, 0));
}

// V1 then V2, twice over, on a database without an outbox: the same shape as an upgrade.
TEST_F(OutboxSqlTest, V1AndV2TwiceOnAnEmptyDatabase) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  DropOutbox(conn);
  for (int round = 0; round < 2; ++round) {
    ApplyV1(conn);
    ApplyV2(conn);
  }
  ExpectMigratedShape(conn);
  conn.Exec("SELECT outbox.publish('order', 'o-1', 'OrderPlaced', '{}'::jsonb)");
  EXPECT_EQ(conn.Exec("SELECT count(*) FROM outbox.outbox WHERE created_lsn IS NOT NULL").Text(0, 0), "1");
}

// V3 runs twice without touching the slots it recorded, on top of V1 and V2 and alone on a
// database without an outbox (a service with a table of its own applies only V3).
TEST_F(OutboxSqlTest, V3RunsTwiceKeepingItsRowsAndAloneWithoutAnOutbox) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  DropOutbox(conn);
  for (int round = 0; round < 2; ++round) conn.Exec(Sql("V3__relay_slots.sql"));
  const auto alone =
      conn.Exec("SELECT to_regclass('outbox.outbox') IS NULL, to_regclass('outbox.relay_slots') IS NOT NULL");
  EXPECT_EQ(alone.Text(0, 0), "t") << "V3 created the outbox table";
  EXPECT_EQ(alone.Text(0, 1), "t") << "V3 alone did not create outbox.relay_slots";
  ApplyV1(conn);
  ApplyV2(conn);
  conn.Exec("INSERT INTO outbox.relay_slots (slot_name, created_lsn) VALUES ('kept', '0/16B3748')");
  conn.Exec(Sql("V3__relay_slots.sql"));
  conn.Exec(Sql("V3__relay_slots.sql"));
  EXPECT_EQ(conn.Exec("SELECT string_agg(slot_name || '@' || created_lsn::text, ',') FROM outbox.relay_slots")
                .Text(0, 0),
            "kept@0/16B3748");
  ExpectMigratedShape(conn);
}

// publish_message() writes one transactional logical message per call, with exactly the
// documented JSON (payload and headers as their jsonb text, in JSON strings); a rolled-back
// call writes nothing.
TEST_F(OutboxSqlTest, PublishMessageEmitsTheDocumentedJsonInTheCallersTransactionOnly) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  ApplyV2(conn);  // whether or not the fixture did
  const std::string slot = "it_msg_" + suffix_;
  db.DropSlotAtEnd(slot);
  conn.ExecParams("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", {slot});

  const std::string payload = R"({"total": 9.5, "lines": [1, 2], "note": "a \"quoted\" \u00e9 \\ tab\t"})";
  const std::string headers = R"({"trace": "t-1"})";
  conn.Exec("BEGIN");
  const std::string committed_id =
      conn.ExecParams("SELECT outbox.publish_message('order', 'o-1', 'OrderPlaced', $1::jsonb, $2::jsonb)::text",
                      {payload, headers})
          .Text(0, 0);
  conn.Exec("COMMIT");
  conn.Exec("BEGIN");
  conn.Exec("SELECT outbox.publish_message('order', 'o-rolled-back', 'OrderPlaced', '{}'::jsonb)");
  conn.Exec("ROLLBACK");
  const std::string prefixed_id =
      conn.Exec("SELECT outbox.publish_message('customer', 'c-1', 'CustomerRenamed', NULL, NULL, 'billing')::text")
          .Text(0, 0);
  // The table's NOT NULL columns hold for messages too.
  EXPECT_TRUE(Contains(ErrorOf(conn, "SELECT outbox.publish_message(NULL, 'x', 'T', '{}'::jsonb)"), "NULL"));

  // What the table path would carry: the jsonb's text output.
  const auto text = conn.ExecParams("SELECT $1::jsonb::text, $2::jsonb::text", {payload, headers});
  const std::string& payload_text = text.Text(0, 0);
  const std::string& headers_text = text.Text(0, 1);

  const auto changes =
      conn.ExecParams("SELECT data FROM pg_logical_slot_get_changes($1, NULL, NULL, 'include-xids', '0')", {slot});
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < changes.Size(); ++i) {
    lines.push_back(changes.Text(i, 0));
    std::cout << "[ info ] test_decoding: " << lines.back() << "\n";
  }
  // Two transactions, nothing from the rolled-back one.
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "BEGIN");
  EXPECT_EQ(lines[2], "COMMIT");
  EXPECT_EQ(lines[3], "BEGIN");
  EXPECT_EQ(lines[5], "COMMIT");
  for (const auto& line : lines) EXPECT_FALSE(Contains(line, "o-rolled-back")) << line;

  auto quoted = [](const std::string& value) { return nlohmann::json(value).dump(); };
  const std::string first =
      "{\"id\" : " + quoted(committed_id) +
      ", \"aggregatetype\" : \"order\", \"aggregateid\" : \"o-1\", \"type\" : \"OrderPlaced\", "
      "\"payload\" : " +
      quoted(payload_text) + ", \"headers\" : " + quoted(headers_text) + "}";
  EXPECT_EQ(lines[1],
            "message: transactional: 1 prefix: outbox, sz: " + std::to_string(first.size()) + " content:" + first);
  const std::string second = "{\"id\" : " + quoted(prefixed_id) +
                             ", \"aggregatetype\" : \"customer\", \"aggregateid\" : \"c-1\", "
                             "\"type\" : \"CustomerRenamed\", \"payload\" : null, \"headers\" : null}";
  EXPECT_EQ(lines[4], "message: transactional: 1 prefix: billing, sz: " + std::to_string(second.size()) +
                          " content:" + second);

  // The same contract, read as JSON: six fields, strings or null; payload/headers are JSON texts.
  const auto content = lines[1].find("content:");
  ASSERT_NE(content, std::string::npos);
  const auto message = nlohmann::json::parse(lines[1].substr(content + 8));
  ASSERT_TRUE(message.is_object());
  EXPECT_EQ(message.size(), 6u);
  for (const auto& [key, value] : message.items()) EXPECT_TRUE(value.is_string() || value.is_null()) << key;
  EXPECT_EQ(message.at("payload").get<std::string>(), payload_text);
  EXPECT_EQ(nlohmann::json::parse(message.at("payload").get<std::string>()), nlohmann::json::parse(payload));
  EXPECT_EQ(message.at("headers").get<std::string>(), headers_text);
}

// purge() deletes rows older than its interval whose transaction the slot has confirmed (A), and
// keeps old rows inserted after the slot's confirmed point (B) and confirmed rows too young (C);
// its deletes are no events; a missing slot is an error naming it.
TEST_F(OutboxSqlTest, PurgeDeletesOnlyOldRowsTheSlotHasConfirmed) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  ApplyV2(conn);  // whether or not the fixture did
  const std::string slot = "it_purge_" + suffix_;
  db.DropSlotAtEnd(slot);
  conn.ExecParams("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {slot});

  const std::string insert_old =
      "INSERT INTO outbox.outbox (aggregatetype, aggregateid, type, payload, created_at) "
      "VALUES ('order', $1, 'OrderPlaced', '{}'::jsonb, now() - interval '2 days')";
  conn.ExecParams(insert_old, {"A"});
  conn.Exec("SELECT outbox.publish('order', 'C', 'OrderPlaced', '{}'::jsonb)");
  ASSERT_TRUE(ConfirmUntil(conn, slot, [&] {
    return RowConfirmed(conn, slot, "A") && RowConfirmed(conn, slot, "C");
  })) << "the slot's catalog_xmin did not pass rows A and C within 60 s";

  conn.ExecParams(insert_old, {"B"});  // after the confirmed point: not published yet
  ASSERT_FALSE(RowConfirmed(conn, slot, "B"));

  EXPECT_EQ(conn.ExecParams("SELECT outbox.purge('1 day', $1)", {slot}).Text(0, 0), "1");
  EXPECT_EQ(AggregateIds(conn), (std::vector<std::string>{"B", "C"}));
  EXPECT_EQ(conn.ExecParams("SELECT outbox.purge('1 day', $1, 'outbox.outbox')", {slot}).Text(0, 0), "0")
      << "a second purge found more to delete";

  // The relay would receive B's insert and nothing of the purge: pgoutput messages 'I' and 'D'.
  const auto published = conn.ExecParams(
      "SELECT count(*) FILTER (WHERE get_byte(data, 0) = ascii('I')), "
      "count(*) FILTER (WHERE get_byte(data, 0) = ascii('D')) "
      "FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', "
      "'publication_names', 'outbox_relay')",
      {slot});
  EXPECT_EQ(published.Text(0, 0), "1") << "inserts the relay would receive after its confirmed point";
  EXPECT_EQ(published.Text(0, 1), "0") << "purge's deletes were published";

  // Once confirmed, B goes too; C only when the interval allows it.
  ASSERT_TRUE(ConfirmUntil(conn, slot, [&] { return RowConfirmed(conn, slot, "B"); }))
      << "the slot's catalog_xmin did not pass row B within 60 s";
  EXPECT_EQ(conn.ExecParams("SELECT outbox.purge('1 day', $1)", {slot}).Text(0, 0), "1");
  EXPECT_EQ(AggregateIds(conn), (std::vector<std::string>{"C"}));
  EXPECT_EQ(conn.ExecParams("SELECT outbox.purge('0 seconds', $1)", {slot}).Text(0, 0), "1");
  EXPECT_TRUE(AggregateIds(conn).empty());

  const std::string missing = "it_nosuch_" + suffix_;
  const std::string error = ErrorOf(conn, "SELECT outbox.purge('1 day', '" + missing + "')");
  EXPECT_TRUE(Contains(error, "replication slot \"" + missing + "\" does not exist")) << error;
}

// relay_role.sql's role can replicate, read the outbox and write the heartbeat message, but
// cannot read other tables or write the outbox.
TEST_F(OutboxSqlTest, RelayRoleReadsTheOutboxAndNothingElse) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  ApplyV2(conn);  // whether or not the fixture did
  const std::string role = "outbox_relay";  // fixed in relay_role.sql; roles are cluster-wide
  PgConnection admin(Harness().ConnInfo(Harness().pg_database));
  const bool role_existed =
      admin.ExecParams("SELECT count(*) FROM pg_roles WHERE rolname = $1", {role}).Text(0, 0) == "1";
  struct DropRoleAtEnd {
    PgConnection& db_conn;
    PgConnection& admin_conn;
    bool skip;
    ~DropRoleAtEnd() {
      if (skip) return;
      try {
        db_conn.Exec("DROP OWNED BY outbox_relay");  // its grants here and on the database
        admin_conn.Exec("DROP ROLE IF EXISTS outbox_relay");
      } catch (const std::exception& error) {
        std::cerr << "[cleanup] dropping role outbox_relay: " << error.what() << "\n";
      }
    }
  } drop_role{conn, admin, role_existed};

  conn.Exec(Sql("relay_role.sql"));
  conn.Exec(Sql("relay_role.sql"));  // idempotent
  conn.Exec("CREATE TABLE public.secrets (v text); INSERT INTO public.secrets VALUES ('s')");
  conn.Exec("SELECT outbox.publish('order', 'o-1', 'OrderPlaced', '{}'::jsonb)");

  const auto attributes = conn.ExecParams(
      "SELECT rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin "
      "FROM pg_roles WHERE rolname = $1",
      {role});
  EXPECT_EQ(attributes.rows.front(), (std::vector<PgValue>{"t", "f", "f", "f", "f", "t"}));

  const std::string as_role = Harness().ConnInfo(db.Name()) + " user=" + role;
  {
    PgConnection relay(as_role);
    EXPECT_EQ(relay.Exec("SELECT count(*) FROM outbox.outbox").Text(0, 0), "1");
    EXPECT_TRUE(Contains(ErrorOf(relay, "SELECT * FROM public.secrets"), "permission denied"));
    EXPECT_TRUE(Contains(ErrorOf(relay,
                                 "INSERT INTO outbox.outbox (aggregatetype, aggregateid, type) "
                                 "VALUES ('a', 'b', 'c')"),
                         "permission denied"));
    EXPECT_TRUE(
        Contains(ErrorOf(relay, "SELECT outbox.publish('a', 'b', 'c', '{}'::jsonb)"), "permission denied"));
    EXPECT_TRUE(Contains(ErrorOf(relay, "DELETE FROM outbox.outbox"), "permission denied"));
    // What the heartbeat and the WAL guard run, with no grant of their own.
    EXPECT_EQ(ErrorOf(relay,
                      "BEGIN; SELECT pg_logical_emit_message(true, 'outbox-relay.heartbeat', now()::text); "
                      "COMMIT"),
              "");
    EXPECT_EQ(ErrorOf(relay, "SELECT pg_current_wal_lsn() - restart_lsn FROM pg_replication_slots"), "");
  }
  {
    PgConnection replication(as_role + " replication=database");
    EXPECT_EQ(replication.Exec("IDENTIFY_SYSTEM").Size(), 1u);
  }
}

}  // namespace
}  // namespace outbox_relay::it
