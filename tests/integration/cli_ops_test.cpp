// Acceptance tests of the operator subcommands: check, init, status, version, run as the real
// binary against the harness's PostgreSQL and Kafka (and an extra PostgreSQL with
// wal_level=replica, started by tests/harness/harness.sh start-extra-pg for one test).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/extra_postgres.hpp"
#include "support/harness_env.hpp"
#include "support/lsn_text.hpp"
#include "support/pg_client.hpp"
#include "support/relay_process.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 60s;  // check waits 10 s for PostgreSQL and 5 s for Kafka at most
constexpr std::string_view kHintPrefix = "     hint: ";

struct CommandResult {
  ExitStatus exit;
  std::vector<std::string> out;  // stdout lines
  std::vector<std::string> err;  // stderr lines, without RelayProcess's start markers
  std::string Transcript() const {
    std::string text = "exit: " + exit.Describe() + "\n--- stdout ---\n";
    for (const auto& line : out) text += line + "\n";
    text += "--- stderr ---\n";
    for (const auto& line : err) text += line + "\n";
    return text;
  }
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("===== test harness:", 0) == 0) continue;
    lines.push_back(line);
  }
  return lines;
}

// A database whose outbox is V1 only, as installed before V2 existed (whatever the fixture applied).
void ResetOutboxToV1(PgConnection& conn) {
  conn.Exec("DROP PUBLICATION IF EXISTS outbox_relay; DROP SCHEMA IF EXISTS outbox CASCADE");
  conn.Exec(ReadFile(SourceDir() + "/outbox/sql/V1__outbox.sql"));
}

// RenderRelayConfig's YAML with `keys` (indented lines) added to its outbox section.
std::string WithOutboxKeys(std::string yaml, const std::string& keys) {
  const auto section = yaml.find("\noutbox:\n");
  if (section == std::string::npos) throw std::runtime_error("no outbox section in:\n" + yaml);
  yaml.insert(section + std::string("\noutbox:\n").size(), keys);
  return yaml;
}

// The index of the first line starting with `prefix`, if any.
std::optional<std::size_t> FindLine(const std::vector<std::string>& lines, const std::string& prefix) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(prefix, 0) == 0) return i;
  }
  return std::nullopt;
}

class CliOpsTest : public RelayIntegrationTest {
 protected:
  // Runs `outbox-relay <args>` to completion (bounded); output files in the temp dir.
  CommandResult RunCli(const std::vector<std::string>& args, const std::string& label,
                       std::map<std::string, std::string> environment = {}) {
    RelayProcess process(RelayBinary(), args, temp_->File(label + ".stdout"), temp_->File(label + ".stderr"));
    process.SetEnvironment(std::move(environment));
    const auto start = std::chrono::steady_clock::now();
    process.Start();
    auto exit = process.WaitFor(kCommandTimeout);
    if (!exit) {
      process.Kill();
      throw std::runtime_error(process.CommandLine() + " still running after 60 s");
    }
    CommandResult result{*exit, Lines(ReadFile(process.StdoutPath())), Lines(ReadFile(process.StderrPath()))};
    std::cout << "[ info ] outbox-relay " << args.front() << " (" << label << ") took "
              << Seconds(std::chrono::steady_clock::now() - start) << "\n"
              << result.Transcript();
    return result;
  }

  // Replaces the fixture's migrated outbox by a table of the service's own, public.events (the
  // outbox columns, none of the migrations' others).
  static void UseOwnOutboxTable(PgConnection& conn) {
    conn.Exec("DROP PUBLICATION IF EXISTS outbox_relay; DROP SCHEMA IF EXISTS outbox CASCADE");
    conn.Exec(
        "CREATE TABLE public.events (id uuid PRIMARY KEY, aggregatetype text NOT NULL, "
        "aggregateid text NOT NULL, type text NOT NULL, payload jsonb, headers jsonb)");
  }

  // A relay's config on this test's database and `slot` (dropped at the end, should a command
  // create it), with this test's topic and the harness's Kafka for the kafka sink.
  RelayConfigOptions OptionsFor(TestDatabase& db, const std::string& slot, const std::string& sink) {
    db.DropSlotAtEnd(slot);
    RelayConfigOptions options;
    options.dsn = db.RelayDsn();
    options.slot = slot;
    options.topic = "it." + suffix_ + ".{table}";
    options.sink = sink;
    if (sink == "kafka") options.bootstrap_servers = Harness().kafka_bootstrap_servers;
    return options;
  }

  // `FAIL <what>...` followed by a hint line containing `hint`.
  void ExpectFailWithHint(const CommandResult& result, const std::string& fail_prefix, const std::string& hint) {
    const auto line = FindLine(result.out, "FAIL " + fail_prefix);
    ASSERT_TRUE(line.has_value()) << "no line starting with \"FAIL " << fail_prefix << "\"";
    ASSERT_LT(*line + 1, result.out.size()) << "no hint after " << result.out[*line];
    const std::string& next = result.out[*line + 1];
    EXPECT_EQ(next.rfind(kHintPrefix, 0), 0u) << "not a hint line: " << next;
    EXPECT_TRUE(Contains(next, hint)) << "hint \"" << next << "\" lacks \"" << hint << "\"";
  }
};

// check against a server with wal_level=replica, no publication, a role without REPLICATION and
// unreachable brokers: one FAIL line with a hint for each, exit 1, the DSN's password never shown.
TEST_F(CliOpsTest, CheckReportsEachProblemWithItsHintAndExitsOne) {
  ExtraPostgres server("cli_" + suffix_, {"wal_level=replica"}, temp_->Path());
  const std::string role = "it_norepl_" + suffix_;
  const std::string database = "it_check_" + suffix_;
  {
    PgConnection admin(server.ConnInfo("postgres"));
    admin.Exec("CREATE ROLE " + role + " LOGIN");
    admin.Exec("CREATE DATABASE " + database);
  }
  {
    PgConnection conn(server.ConnInfo(database));
    conn.Exec(ReadFile(SourceDir() + "/outbox/sql/V1__outbox.sql"));
    conn.Exec("DROP PUBLICATION outbox_relay");
    // Readable, so the only role problem is the missing REPLICATION.
    conn.Exec("GRANT USAGE ON SCHEMA outbox TO " + role + "; GRANT SELECT ON outbox.outbox TO " + role);
  }
  const std::string password = "it-secret-" + suffix_;  // trust auth ignores it; it must not leak
  RelayConfigOptions options;
  options.dsn = server.ConnInfo(database, role) + " password=" + password;
  options.slot = "it_check_" + suffix_;
  options.topic = "it." + suffix_ + ".{aggregate_type}";
  options.bootstrap_servers = "127.0.0.1:" + std::to_string(UnusedLoopbackPort());
  const auto result =
      RunCli({"check", "--config", WriteConfig("relay.yaml", RenderRelayConfig(options))}, "check");

  EXPECT_TRUE(result.exit.exited && result.exit.code == 1) << result.exit.Describe();
  ExpectFailWithHint(result, "wal_level", "ALTER SYSTEM SET wal_level = logical");
  ExpectFailWithHint(result, "role " + role, "ALTER ROLE " + role + " REPLICATION");
  ExpectFailWithHint(result, "publication outbox_relay: does not exist",
                     "CREATE PUBLICATION outbox_relay FOR TABLE outbox.outbox WITH (publish = 'insert')");
  ExpectFailWithHint(result, "kafka 127.0.0.1:", "kafka.bootstrap.servers");
  EXPECT_TRUE(FindLine(result.out, "ok   connect to host=127.0.0.1 port=")) << "no ok line for the connection";
  EXPECT_TRUE(FindLine(result.out, "ok   outbox table outbox.outbox")) << "the table is there and complete";
  EXPECT_TRUE(FindLine(result.out, "ok   SELECT on outbox.outbox")) << "the role was granted SELECT";
  for (const auto& line : result.out) {
    EXPECT_TRUE(line.rfind("ok   ", 0) == 0 || line.rfind("FAIL ", 0) == 0 || line.rfind("WARN ", 0) == 0 ||
                line.rfind(kHintPrefix, 0) == 0)
        << "unexpected line shape: " << line;
    EXPECT_FALSE(Contains(line, password)) << "the DSN's password is printed: " << line;
  }
  for (const auto& line : result.err) EXPECT_FALSE(Contains(line, password)) << "password on stderr: " << line;
}

// check against the harness database with the migrations applied and the harness's Kafka: every
// check is ok (the sink, and every protection the migrations give, included) and the exit code
// is 0. The Kubernetes service-link variables of a Service named outbox-relay change nothing.
TEST_F(CliOpsTest, CheckPassesOnAGoodDatabaseAndKafka) {
  TestDatabase& db = CreateDatabase();
  const RelayConfigOptions options = OptionsFor(db, "it_check_" + suffix_, "kafka");
  const auto result = RunCli({"check", "--config", WriteConfig("relay.yaml", RenderRelayConfig(options))}, "check",
                             {{"OUTBOX_RELAY_PORT", "tcp://10.0.0.1:8080"},
                              {"OUTBOX_RELAY_SERVICE_HOST", "10.0.0.1"},
                              {"OUTBOX_RELAY_PORT_8080_TCP_ADDR", "10.0.0.1"}});

  EXPECT_TRUE(result.exit.exited && result.exit.code == 0) << result.exit.Describe();
  ASSERT_FALSE(result.out.empty());
  for (const auto& line : result.out) EXPECT_EQ(line.rfind("ok   ", 0), 0u) << "not ok: " << line;
  for (const char* check :
       {"ok   sink kafka (sink.type)", "ok   wal_level is logical", "ok   role ", "ok   publication outbox_relay",
        "ok   outbox table outbox.outbox", "ok   slot ", "ok   kafka ",
        "ok   slot-loss protection (outbox.relay_slots)", "ok   replay and retention columns of outbox.outbox",
        "ok   retention function outbox.purge()"}) {
    EXPECT_TRUE(FindLine(result.out, check)) << "no line starting with \"" << check << "\"";
  }
}

// A config with Kafka settings but no sink.type selects the Kafka sink, and check says so; one
// with neither is a config error naming sink.type (exit 2), never a silent stdout sink.
TEST_F(CliOpsTest, CheckSaysWhichSinkTheConfigSelects) {
  TestDatabase& db = CreateDatabase();
  const RelayConfigOptions options = OptionsFor(db, "it_sink_" + suffix_, "kafka");
  std::string yaml = RenderRelayConfig(options);
  const std::string sink = "sink:\n  type: kafka\n";
  ASSERT_NE(yaml.find(sink), std::string::npos) << yaml;
  yaml.erase(yaml.find(sink), sink.size());
  const auto implied = RunCli({"check", "--config", WriteConfig("implied.yaml", yaml)}, "check-implied");
  EXPECT_TRUE(implied.exit.exited && implied.exit.code == 0) << implied.exit.Describe();
  EXPECT_TRUE(FindLine(implied.out, "ok   sink kafka (sink.type unset: the kafka settings select it)"));

  const auto none =
      RunCli({"check", "--config", WriteConfig("none.yaml", "source:\n  dsn: \"" + db.RelayDsn() + "\"\n")},
             "check-none");
  EXPECT_TRUE(none.exit.exited && none.exit.code == 2) << none.exit.Describe();
  EXPECT_TRUE(none.out.empty());
  ASSERT_EQ(none.err.size(), 1u);
  EXPECT_TRUE(Contains(none.err.front(), "sink.type: is not set")) << none.err.front();
}

// With an outbox table of the service's own, check says which protections are off (WARN, exit 0)
// and why; init creates outbox.relay_slots (slot-loss protection) but no outbox migration, so
// the columns and purge() stay off until the steps of docs/adding-an-outbox.md ("An existing
// outbox table"), after which each is ok.
TEST_F(CliOpsTest, CheckSaysWhichProtectionsAnOwnTableLacks) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  UseOwnOutboxTable(conn);
  const std::string config =
      WriteConfig("relay.yaml", WithOutboxKeys(RenderRelayConfig(OptionsFor(db, "it_own_" + suffix_, "stdout")),
                                               "  tables: [public.events]\n"));
  const auto expect_warn = [](const CommandResult& result, const std::string& prefix, const std::string& problem,
                              const std::string& hint) {
    const auto line = FindLine(result.out, "WARN " + prefix);
    ASSERT_TRUE(line.has_value()) << "no line starting with \"WARN " << prefix << "\"";
    EXPECT_TRUE(Contains(result.out[*line], problem)) << result.out[*line];
    ASSERT_LT(*line + 1, result.out.size());
    EXPECT_TRUE(Contains(result.out[*line + 1], hint)) << result.out[*line + 1];
  };
  // Before init: the publication is missing (a FAIL), and so is outbox.relay_slots (a WARN).
  const auto before = RunCli({"check", "--config", config}, "check-before");
  EXPECT_TRUE(before.exit.exited && before.exit.code == 1) << before.exit.Describe();
  expect_warn(before, "slot-loss protection (outbox.relay_slots): off: the table does not exist",
              "skip every event committed in between", "outbox-relay init creates it, or apply outbox/sql/V3");

  const auto init = RunCli({"init", "--config", config}, "init");
  ASSERT_TRUE(init.exit.exited && init.exit.code == 0) << init.exit.Describe();
  EXPECT_TRUE(FindLine(init.out, "created table outbox.relay_slots"));
  EXPECT_FALSE(FindLine(init.out, "created table outbox.outbox")) << "init created an outbox nobody reads";

  const auto after_init = RunCli({"check", "--config", config}, "check-after-init");
  EXPECT_TRUE(after_init.exit.exited && after_init.exit.code == 0) << after_init.exit.Describe();
  EXPECT_TRUE(FindLine(after_init.out, "ok   slot-loss protection (outbox.relay_slots)"));
  const std::string why =
      "with only tables of your own in outbox.tables, outbox-relay init applies "
      "outbox/sql/V3__relay_slots.sql alone";
  expect_warn(after_init, "replay and retention columns of public.events",
              "no created_lsn column with a default (" + why, "docs/adding-an-outbox.md#an-existing-outbox-table");
  expect_warn(after_init, "replay and retention columns of public.events", "no created_at column",
              "docs/adding-an-outbox.md#an-existing-outbox-table");
  expect_warn(after_init, "retention function outbox.purge(): off: it does not exist (" + why,
              "nothing deletes delivered outbox rows", "V2__publish_message_purge.sql");

  // The steps the docs give for an existing table.
  conn.Exec("ALTER TABLE public.events ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT now()");
  conn.Exec("ALTER TABLE public.events ADD COLUMN IF NOT EXISTS created_lsn pg_lsn");
  conn.Exec("ALTER TABLE public.events ALTER COLUMN created_lsn SET DEFAULT pg_current_wal_insert_lsn()");
  conn.Exec(ReadFile(SourceDir() + "/outbox/sql/V1__outbox.sql"));
  conn.Exec(ReadFile(SourceDir() + "/outbox/sql/V2__publish_message_purge.sql"));
  const auto after = RunCli({"check", "--config", config}, "check-after");
  EXPECT_TRUE(after.exit.exited && after.exit.code == 0) << after.exit.Describe();
  for (const auto& line : after.out) EXPECT_NE(line.rfind("WARN ", 0), 0u) << line;
  for (const char* line : {"ok   slot-loss protection (outbox.relay_slots)",
                           "ok   replay and retention columns of public.events (created_lsn, created_at)",
                           "ok   retention function outbox.purge()"}) {
    EXPECT_TRUE(FindLine(after.out, line)) << "no line starting with \"" << line << "\"";
  }
}

// init on an empty database creates schema, table, functions, column, publication and slot (V1
// then V2); a second init creates nothing and succeeds; status exits 1 with a hint before init;
// --print-sql prints the SQL without connecting (the DSN points at a closed port).
TEST_F(CliOpsTest, InitCreatesWhatIsMissingOnceAndPrintSqlNeedsNoDatabase) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  conn.Exec("DROP PUBLICATION outbox_relay; DROP SCHEMA outbox CASCADE");  // the fixture applied it
  const std::string slot = "it_init_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions options;
  options.dsn = db.RelayDsn();
  options.slot = slot;
  options.topic = "it." + suffix_ + ".{aggregate_type}";
  options.sink = "stdout";
  const std::string config = WriteConfig("relay.yaml", RenderRelayConfig(options));

  const auto missing = RunCli({"status", "--config", config}, "status-before");
  EXPECT_TRUE(missing.exit.exited && missing.exit.code == 1) << missing.exit.Describe();
  EXPECT_TRUE(FindLine(missing.err, "outbox-relay: status: slot " + slot + " does not exist"));
  EXPECT_TRUE(FindLine(missing.err, std::string(kHintPrefix))) << "no hint for the missing slot";

  const auto first = RunCli({"init", "--config", config}, "init-1");
  EXPECT_TRUE(first.exit.exited && first.exit.code == 0) << first.exit.Describe();
  for (const auto& created : std::vector<std::string>{
           "schema outbox", "table outbox.outbox", "function outbox.publish", "publication outbox_relay",
           "column outbox.outbox.created_lsn", "function outbox.publish_message", "function outbox.purge",
           "table outbox.relay_slots", "slot " + slot}) {
    EXPECT_TRUE(FindLine(first.out, "created " + created)) << "no \"created " << created << "\" line";
  }
  const auto objects = conn.Exec(
      "SELECT to_regclass('outbox.outbox') IS NOT NULL, "
      "(SELECT count(*) FROM pg_publication WHERE pubname = 'outbox_relay'), "
      "(SELECT xmin::text FROM pg_proc WHERE oid = 'outbox.publish(text,text,text,jsonb,jsonb)'::regprocedure), "
      "(SELECT xmin::text FROM pg_proc WHERE oid = "
      "'outbox.publish_message(text,text,text,jsonb,jsonb,text)'::regprocedure)");
  EXPECT_EQ(objects.Text(0, 0), "t");
  EXPECT_EQ(objects.Text(0, 1), "1");
  const auto state = db.Slot(slot);
  ASSERT_TRUE(state.has_value()) << "init did not create slot " << slot;
  EXPECT_EQ(state->plugin, "pgoutput");

  const auto second = RunCli({"init", "--config", config}, "init-2");
  EXPECT_TRUE(second.exit.exited && second.exit.code == 0) << second.exit.Describe();
  for (const auto& line : second.out) EXPECT_NE(line.rfind("created", 0), 0u) << "second init: " << line;
  EXPECT_TRUE(FindLine(second.out, "nothing to do"));
  // CREATE OR REPLACE FUNCTION would give the function's row a new xmin: it was not run again.
  const auto after = conn.Exec(
      "SELECT (SELECT xmin::text FROM pg_proc WHERE oid = "
      "'outbox.publish(text,text,text,jsonb,jsonb)'::regprocedure), "
      "(SELECT count(*) FROM pg_replication_slots WHERE slot_name = " +
      conn.QuoteLiteral(slot) +
      "), "
      "(SELECT xmin::text FROM pg_proc WHERE oid = "
      "'outbox.publish_message(text,text,text,jsonb,jsonb,text)'::regprocedure)");
  EXPECT_EQ(after.Text(0, 0), objects.Text(0, 2)) << "the second init rewrote outbox.publish";
  EXPECT_EQ(after.Text(0, 1), "1");
  EXPECT_EQ(after.Text(0, 2), objects.Text(0, 3)) << "the second init rewrote outbox.publish_message";

  const std::string password = "it-secret-" + suffix_;
  options.dsn = "host=127.0.0.1 port=" + std::to_string(UnusedLoopbackPort()) +
                " dbname=nowhere user=nobody password=" + password + " connect_timeout=2";
  const auto sql = RunCli(
      {"init", "--print-sql", "--config", WriteConfig("closed.yaml", RenderRelayConfig(options))}, "print-sql");
  EXPECT_TRUE(sql.exit.exited && sql.exit.code == 0) << sql.exit.Describe();
  std::string text;
  for (const auto& line : sql.out) text += line + "\n";
  EXPECT_TRUE(Contains(text, "CREATE TABLE IF NOT EXISTS outbox.outbox")) << "the migration is missing";
  const auto v2 = text.find("ALTER TABLE outbox.outbox ADD COLUMN IF NOT EXISTS created_lsn pg_lsn;");
  EXPECT_NE(v2, std::string::npos) << "V2 is missing";
  EXPECT_LT(text.find("CREATE TABLE IF NOT EXISTS outbox.outbox"), v2) << "V2 is printed before V1";
  EXPECT_TRUE(Contains(text, "CREATE OR REPLACE FUNCTION outbox.publish_message("));
  EXPECT_TRUE(Contains(text, "CREATE OR REPLACE FUNCTION outbox.purge("));
  EXPECT_TRUE(Contains(text, "CREATE PUBLICATION outbox_relay FOR TABLE outbox.outbox"));
  EXPECT_TRUE(Contains(text, "pg_create_logical_replication_slot('" + slot + "', 'pgoutput')"));
  EXPECT_TRUE(Contains(text, "CREATE TABLE IF NOT EXISTS outbox.relay_slots")) << "V3 is missing";
  EXPECT_TRUE(Contains(text, "INSERT INTO outbox.relay_slots")) << "the slot is not recorded";
  EXPECT_TRUE(FindLine(sql.out, "--         CREATE ROLE outbox_relay WITH LOGIN REPLICATION"))
      << "no least-privilege role suggestion (as a comment)";
  EXPECT_TRUE(FindLine(sql.out, "-- GRANT SELECT ON outbox.outbox TO outbox_relay"));
  EXPECT_FALSE(Contains(text, password)) << "the DSN's password is printed";
}

// status --json while the relay streams: one JSON object naming the slot, active with the
// walsender's pid, its confirmed_flush_lsn past the published events' WAL, lag and retained WAL.
TEST_F(CliOpsTest, StatusJsonShowsTheSlotAfterTheRelayStreamed) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_status_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions options;
  options.dsn = db.RelayDsn();
  options.slot = slot;
  options.topic = "it." + suffix_ + ".{aggregate_type}";
  options.sink = "stdout";
  const std::string config = WriteConfig("relay.yaml", RenderRelayConfig(options));
  RelayProcess& relay = NewRelay(config, "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << "the relay did not activate slot " << slot << " within 60 s";

  PgConnection conn = db.Connect();
  const auto before = ParseLsnText(conn.Exec("SELECT pg_current_wal_lsn()::text").Text(0, 0));
  ASSERT_TRUE(before.has_value());
  constexpr int kEvents = 5;
  for (int i = 0; i < kEvents; ++i) {
    conn.ExecParams("SELECT outbox.publish('order', $1, 'OrderPlaced', '{\"n\": 1}'::jsonb)",
                    {"o-" + std::to_string(i)});
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::optional<SlotState> state;
  while (std::chrono::steady_clock::now() < deadline && relay.Running()) {
    state = db.Slot(slot);
    if (state && state->confirmed_flush_lsn && *state->confirmed_flush_lsn > *before &&
        Lines(ReadFile(relay.StdoutPath())).size() >= kEvents) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(state && state->confirmed_flush_lsn && *state->confirmed_flush_lsn > *before)
      << "the relay did not deliver and confirm " << kEvents << " events within 60 s";

  const auto result = RunCli({"status", "--json", "--config", config}, "status-json");
  EXPECT_TRUE(result.exit.exited && result.exit.code == 0) << result.exit.Describe();
  ASSERT_EQ(result.out.size(), 1u) << "expected one JSON line";
  nlohmann::json status;
  ASSERT_NO_THROW(status = nlohmann::json::parse(result.out.front())) << result.out.front();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status.value("slot", ""), slot);
  EXPECT_EQ(status.value("exists", false), true);
  EXPECT_EQ(status.value("plugin", ""), "pgoutput");
  EXPECT_EQ(status.value("active", false), true);
  EXPECT_TRUE(status.contains("active_pid") && status["active_pid"].is_number_integer());
  ASSERT_TRUE(status.contains("confirmed_flush_lsn") && status["confirmed_flush_lsn"].is_string());
  const auto confirmed = ParseLsnText(status["confirmed_flush_lsn"].get<std::string>());
  ASSERT_TRUE(confirmed.has_value()) << status["confirmed_flush_lsn"];
  EXPECT_GT(*confirmed, *before);
  ASSERT_TRUE(status.contains("current_wal_lsn") && status["current_wal_lsn"].is_string());
  const auto current = ParseLsnText(status["current_wal_lsn"].get<std::string>());
  ASSERT_TRUE(current.has_value());
  for (const char* field : {"lag_bytes", "retained_wal_bytes"}) {
    ASSERT_TRUE(status.contains(field) && status[field].is_number_integer()) << field << ": " << status.dump();
    EXPECT_GE(status[field].get<std::int64_t>(), 0) << field;
  }
  EXPECT_EQ(status["lag_bytes"].get<std::int64_t>(), static_cast<std::int64_t>(*current - *confirmed));
  EXPECT_TRUE(status.contains("wal_status") && status["wal_status"].is_string());

  const auto table = RunCli({"status", "--config", config}, "status-table");
  EXPECT_TRUE(table.exit.exited && table.exit.code == 0) << table.exit.Describe();
  EXPECT_TRUE(FindLine(table.out, "confirmed_flush_lsn  ")) << "no aligned confirmed_flush_lsn row";

  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
}

// init on a database holding a V1 outbox with rows applies V2 only: the V1 objects exist, the
// created_lsn column and the two functions are created, and the rows stay.
TEST_F(CliOpsTest, InitUpgradesAV1OutboxToV2KeepingItsRows) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  ResetOutboxToV1(conn);
  conn.Exec("SELECT outbox.publish('order', 'o-1', 'OrderPlaced', '{\"n\": 1}'::jsonb)");
  const RelayConfigOptions options = OptionsFor(db, "it_upgrade_" + suffix_, "stdout");
  const auto result = RunCli({"init", "--config", WriteConfig("relay.yaml", RenderRelayConfig(options))}, "init");

  EXPECT_TRUE(result.exit.exited && result.exit.code == 0) << result.exit.Describe();
  for (const char* existed :
       {"schema outbox", "table outbox.outbox", "function outbox.publish", "publication outbox_relay"}) {
    EXPECT_TRUE(FindLine(result.out, std::string("exists  ") + existed))
        << "no \"exists  " << existed << "\" line";
  }
  for (const char* created :
       {"column outbox.outbox.created_lsn", "function outbox.publish_message", "function outbox.purge"}) {
    EXPECT_TRUE(FindLine(result.out, std::string("created ") + created))
        << "no \"created " << created << "\" line";
  }
  const auto rows = conn.Exec("SELECT aggregateid, created_lsn::text FROM outbox.outbox");
  ASSERT_EQ(rows.Size(), 1u) << "the V1 row is gone";
  EXPECT_EQ(rows.Text(0, 0), "o-1");
  EXPECT_FALSE(rows.At(0, 1).has_value()) << "a V1 row got a created_lsn";
}

// With outbox.tables naming outbox.outbox and a table of the service's own, init publishes both
// and check checks both (columns, SELECT, publication); a table the publication leaves out, or
// one that does not exist, is a FAIL naming it.
TEST_F(CliOpsTest, CheckAndInitCoverEveryConfiguredTable) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  UseOwnOutboxTable(conn);
  const RelayConfigOptions options = OptionsFor(db, "it_tables_" + suffix_, "stdout");
  const std::string config = WriteConfig(
      "relay.yaml", WithOutboxKeys(RenderRelayConfig(options), "  tables: [outbox.outbox, public.events]\n"));

  const auto init = RunCli({"init", "--config", config}, "init");
  EXPECT_TRUE(init.exit.exited && init.exit.code == 0) << init.exit.Describe();
  EXPECT_TRUE(FindLine(init.out, "exists  table public.events"));
  EXPECT_TRUE(FindLine(init.out, "created publication outbox_relay"));
  EXPECT_EQ(conn.Exec("SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname) "
                      "FROM pg_publication_tables WHERE pubname = 'outbox_relay'")
                .Text(0, 0),
            "outbox.outbox,public.events");

  const auto good = RunCli({"check", "--config", config}, "check-good");
  EXPECT_TRUE(good.exit.exited && good.exit.code == 0) << good.exit.Describe();
  for (const char* line : {"ok   publication outbox_relay publishes inserts of outbox.outbox, public.events",
                           "ok   outbox table outbox.outbox has the configured columns",
                           "ok   outbox table public.events has the configured columns",
                           "ok   SELECT on outbox.outbox", "ok   SELECT on public.events"}) {
    EXPECT_TRUE(FindLine(good.out, line)) << "no line starting with \"" << line << "\"";
  }

  conn.Exec("ALTER PUBLICATION outbox_relay DROP TABLE public.events");
  const auto uncovered = RunCli({"check", "--config", config}, "check-uncovered");
  EXPECT_TRUE(uncovered.exit.exited && uncovered.exit.code == 1) << uncovered.exit.Describe();
  ExpectFailWithHint(uncovered, "publication outbox_relay: does not cover the outbox table public.events",
                     "ALTER PUBLICATION outbox_relay ADD TABLE public.events;");

  const std::string missing = WriteConfig(
      "missing.yaml", WithOutboxKeys(RenderRelayConfig(options), "  tables: [outbox.outbox, public.missing]\n"));
  const auto check_missing = RunCli({"check", "--config", missing}, "check-missing");
  EXPECT_TRUE(check_missing.exit.exited && check_missing.exit.code == 1) << check_missing.exit.Describe();
  ExpectFailWithHint(check_missing, "outbox table public.missing: does not exist", "outbox.tables");
  const auto init_missing = RunCli({"init", "--config", missing}, "init-missing");
  EXPECT_TRUE(init_missing.exit.exited && init_missing.exit.code == 1) << init_missing.exit.Describe();
  ExpectFailWithHint(init_missing, "outbox table public.missing: does not exist", "outbox.tables");
}

// With outbox.capture: messages, check neither needs nor checks any table, but needs
// outbox.publish_message() (V2), which init creates.
TEST_F(CliOpsTest, CheckWithCaptureMessagesSkipsTablesAndNeedsPublishMessage) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  ResetOutboxToV1(conn);
  const RelayConfigOptions options = OptionsFor(db, "it_messages_" + suffix_, "stdout");
  const std::string config =
      WriteConfig("relay.yaml",
                  WithOutboxKeys(RenderRelayConfig(options), "  capture: messages\n  tables: [public.absent]\n"));

  const auto before = RunCli({"check", "--config", config}, "check-before");
  EXPECT_TRUE(before.exit.exited && before.exit.code == 1) << before.exit.Describe();
  ExpectFailWithHint(before, "function outbox.publish_message: does not exist", "V2__publish_message_purge.sql");

  const auto init = RunCli({"init", "--config", config}, "init");
  EXPECT_TRUE(init.exit.exited && init.exit.code == 0) << init.exit.Describe();
  EXPECT_TRUE(FindLine(init.out, "created function outbox.publish_message"));

  const auto after = RunCli({"check", "--config", config}, "check-after");
  EXPECT_TRUE(after.exit.exited && after.exit.code == 0) << after.exit.Describe();
  EXPECT_TRUE(FindLine(after.out, "ok   publication outbox_relay exists"));
  EXPECT_TRUE(FindLine(after.out, "ok   function outbox.publish_message"));
  for (const auto& line : after.out) {
    EXPECT_FALSE(Contains(line, "outbox table") || Contains(line, "SELECT on")) << "a table check ran: " << line;
  }
}

// check, init and status exit 2 on a config error (an unknown key) with one stderr line naming it.
TEST_F(CliOpsTest, ConfigErrorExitsTwoNamingTheKey) {
  const std::string config =
      WriteConfig("bad.yaml", "source:\n  dsn: \"host=127.0.0.1 port=" + std::to_string(UnusedLoopbackPort()) +
                                  " dbname=x user=x\"\n  dns: \"host=127.0.0.1\"\n");
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"check", "--config", config}, {"init", "--config", config}, {"status", "--config", config}}) {
    const auto result = RunCli(args, args.front());
    EXPECT_TRUE(result.exit.exited && result.exit.code == 2) << args.front() << ": " << result.exit.Describe();
    EXPECT_TRUE(result.out.empty()) << args.front() << " printed on stdout";
    ASSERT_EQ(result.err.size(), 1u) << args.front();
    EXPECT_TRUE(Contains(result.err.front(), "source.dns")) << result.err.front();
  }
}

// A mistyped command exits 2 naming the word and the nearest command, on one stderr line.
TEST_F(CliOpsTest, MistypedCommandNamesTheNearestOne) {
  const auto result = RunCli({"chekc", "--config", "relay.yaml"}, "chekc");
  EXPECT_TRUE(result.exit.exited && result.exit.code == 2) << result.exit.Describe();
  ASSERT_EQ(result.err.size(), 1u);
  EXPECT_TRUE(Contains(result.err.front(), "unknown command \"chekc\" (did you mean check?)"))
      << result.err.front();
}

// version prints "outbox-relay <x.y.z> (<git describe or unknown>)" and exits 0.
TEST_F(CliOpsTest, VersionPrintsTheVersion) {
  const auto result = RunCli({"version"}, "version");
  EXPECT_TRUE(result.exit.exited && result.exit.code == 0) << result.exit.Describe();
  ASSERT_EQ(result.out.size(), 1u);
  EXPECT_TRUE(std::regex_match(result.out.front(), std::regex(R"(outbox-relay \d+\.\d+\.\d+ \(\S+\))")))
      << result.out.front();
}

}  // namespace
}  // namespace outbox_relay::it
