// Security acceptance tests against the harness's real PostgreSQL and Kafka: TLS to PostgreSQL
// (sslmode=verify-full with the harness CA), SASL/SCRAM over TLS to the broker's SASL_SSL
// listener, secrets from files and the environment kept out of every output, the HTTP endpoint
// bound to loopback only, and the least-privilege role (REPLICATION + SELECT on the outbox).

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/kafka_reader.hpp"
#include "support/oracle.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kAggregateType = "order";

struct CommandTranscript {
  ExitStatus exit;
  std::string output;  // stdout then stderr
};

// Every line of `text` that contains `part`.
std::vector<std::string> LinesWith(const std::string& text, const std::string& part) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (Contains(line, part)) lines.push_back(line);
  }
  return lines;
}

class SecurityTest : public RelayIntegrationTest {
 protected:
  void TearDown() override {
    // After the base class killed the relays and dropped the test database, which takes the
    // roles' grants there with it; roles are cluster-wide, so each test drops its own.
    RelayIntegrationTest::TearDown();
    if (roles_.empty()) return;
    try {
      PgConnection admin(Harness().ConnInfo(Harness().pg_database));
      for (const auto& role : roles_) admin.Exec("DROP ROLE IF EXISTS " + admin.QuoteIdent(role));
    } catch (const std::exception& error) {
      std::cerr << "[cleanup] dropping roles: " << error.what() << "\n";
    }
  }

  /// A login role of this test, `attributes` (e.g. "REPLICATION") added; with a password it is
  /// made a member of the harness's PG_PASSWORD_ROLE, so it must log in with it over TCP.
  std::string CreateRole(const std::string& stem, const std::string& attributes,
                         const std::string& password = "") {
    const std::string role = "it_" + stem + "_" + suffix_;
    PgConnection admin(Harness().ConnInfo(Harness().pg_database));
    admin.Exec("CREATE ROLE " + admin.QuoteIdent(role) + " LOGIN " + attributes);
    roles_.push_back(role);
    if (!password.empty()) {
      admin.Exec("ALTER ROLE " + admin.QuoteIdent(role) + " PASSWORD " + admin.QuoteLiteral(password));
      admin.Exec("GRANT " + Harness().Get("PG_PASSWORD_ROLE") + " TO " + admin.QuoteIdent(role));
    }
    return role;
  }

  /// USAGE on schema outbox and SELECT on outbox.outbox in the test database.
  void GrantOutboxSelect(const std::string& role) {
    PgConnection conn = db_->Connect();
    conn.Exec("GRANT USAGE ON SCHEMA outbox TO " + conn.QuoteIdent(role) + "; GRANT SELECT ON outbox.outbox TO " +
              conn.QuoteIdent(role));
  }

  /// `text` in a file only its owner may read, as secret stores mount them (with a newline).
  std::string WriteSecretFile(const std::string& name, const std::string& text) {
    const std::string path = temp_->File(name);
    std::ofstream(path) << text << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }

  /// Runs `outbox-relay <args>` to its end (at most 60 s).
  CommandTranscript RunCommand(std::vector<std::string> args, const std::string& label,
                               const std::map<std::string, std::string>& environment = {}) {
    RelayProcess& command = NewRelayCommand(std::move(args), label);
    command.SetEnvironment(environment);
    command.Start();
    const auto exit = command.WaitFor(60s);
    if (!exit) {
      command.Kill();
      ADD_FAILURE() << command.CommandLine() << " still runs after 60 s";
      return {};
    }
    CommandTranscript result{*exit, ReadFile(command.StdoutPath()) + ReadFile(command.StderrPath())};
    std::cout << "[ info ] " << label << ": " << exit->Describe() << "\n" << result.output;
    return result;
  }

  /// The relay config of this test: its database, slot `slot` and topic, the given sink.
  RelayConfigOptions BaseConfig(const std::string& slot, const std::string& sink) const {
    RelayConfigOptions config;
    config.dsn = db_->RelayDsn();
    config.slot = slot;
    config.topic = "it." + suffix_ + ".{aggregate_type}";
    config.sink = sink;
    if (sink == "kafka") config.bootstrap_servers = Harness().kafka_bootstrap_servers;
    return config;
  }

  std::string Topic() const { return TopicFor("it." + suffix_ + ".{aggregate_type}", kAggregateType); }

  /// SASL_SSL with SCRAM to the harness's SCRAM broker; the password from a file unless given
  /// inline. Read what it delivered from ScramBroker().
  static std::string ScramBroker() { return Harness().Get("SCRAM_KAFKA_BOOTSTRAP_SERVERS"); }

  void UseScram(RelayConfigOptions& config, const std::string& inline_password = "") {
    config.bootstrap_servers = Harness().Get("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS");
    config.kafka_properties["security.protocol"] = "SASL_SSL";
    config.kafka_properties["sasl.mechanism"] = Harness().Get("KAFKA_SASL_MECHANISM");
    config.kafka_properties["sasl.username"] = Harness().Get("KAFKA_SCRAM_USER");
    config.kafka_properties["ssl.ca.location"] = Harness().Get("HARNESS_CA_FILE");
    if (inline_password.empty()) {
      config.kafka_properties["sasl.password_file"] =
          WriteSecretFile("kafka.password", Harness().Get("KAFKA_SCRAM_PASSWORD"));
    } else {
      config.kafka_properties["sasl.password"] = inline_password;
    }
  }

  /// Commits `count` events of aggregate type "order" through outbox.publish, as the admin.
  void PublishEvents(int count) {
    PgConnection conn = db_->Connect();
    for (int i = 1; i <= count; ++i) {
      conn.Exec("SELECT outbox.publish('" + std::string(kAggregateType) + "', 'o-" + std::to_string(i) +
                "', 'OrderPlaced', jsonb_build_object('seq', " + std::to_string(i) + "))");
    }
  }

  /// Reads the test's topic on a broker's PLAINTEXT listener until `count` records arrived or
  /// `timeout` passed; returns how many did.
  std::size_t WaitForRecords(const std::string& bootstrap_servers, std::size_t count,
                             std::chrono::milliseconds timeout) {
    KafkaReader reader(bootstrap_servers, {Topic()});
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      reader.CatchUp(30s);
      if (reader.Records().size() >= count) break;
      std::this_thread::sleep_for(200ms);
    }
    return reader.Records().size();
  }

  /// Waits until `relay`'s stderr contains `part`; false after `timeout`.
  static bool WaitForLog(RelayProcess& relay, const std::string& part, std::chrono::milliseconds timeout) {
    return WaitForText(relay.StderrPath(), part, timeout);
  }

  /// SIGTERM, then expects exit 0 within 60 s.
  static void StopCleanly(RelayProcess& relay) {
    relay.Signal(SIGTERM);
    const auto exit = relay.WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
    EXPECT_TRUE(exit->exited && exit->code == 0) << exit->Describe();
  }

  std::vector<std::string> roles_;
};

// ---- PostgreSQL TLS ------------------------------------------------------------------------

// With source.sslmode verify-full and the harness CA as source.sslrootcert, check passes and
// the relay streams; every session it opens (replication, heartbeat / WAL guard) is TLS.
TEST_F(SecurityTest, PostgresVerifyFullWithTheHarnessCaStreams) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_tls_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config = BaseConfig(slot, "stdout");
  config.more["source"] = {{"sslmode", "verify-full"}, {"sslrootcert", Harness().Get("HARNESS_CA_FILE")}};
  config.more["heartbeat"] = {{"interval_ms", "500"}};
  const std::string path = WriteConfig("relay.yaml", RenderRelayConfig(config));

  const CommandTranscript check = RunCommand({"check", "--config", path}, "check");
  EXPECT_TRUE(check.exit.exited && check.exit.code == 0) << check.exit.Describe();

  RelayProcess& relay = NewRelay(path, "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << relay.StderrTail(20);
  PublishEvents(1);
  EXPECT_TRUE(WaitForText(relay.StdoutPath(), "\"o-1\"", 30s)) << "the event did not reach stdout";

  PgConnection conn = db.Connect();
  const PgResult sessions = conn.ExecParams(
      "SELECT a.backend_type, s.ssl::text, coalesce(s.version, '-') FROM pg_stat_activity a "
      "JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.application_name = 'outbox-relay' "
      "ORDER BY 1",
      {db.Name()});
  ASSERT_GE(sessions.Size(), 2u) << "expected the replication and the monitoring session";
  for (std::size_t i = 0; i < sessions.Size(); ++i) {
    std::cout << "[ info ] relay session " << sessions.Text(i, 0) << ": ssl=" << sessions.Text(i, 1) << " "
              << sessions.Text(i, 2) << "\n";
    EXPECT_EQ(sessions.Text(i, 1), "true") << sessions.Text(i, 0) << " session without TLS";
  }
  StopCleanly(relay);
}

// Over TLS the replication connection reads ahead (relay/pg/pg_connection.cpp): OpenSSL takes
// many records per recv(), and libpq then reads them from OpenSSL's buffer. An event of 200 kB
// spans thirteen TLS records and a burst of 500 small ones arrives as 502 records in a few
// reads; each must come out whole, in order, and without waiting for more WAL. (The walsender's
// keepalive after each burst would end such a wait today; the relay does not rely on it.)
TEST_F(SecurityTest, PostgresTlsStreamDeliversEventsLargerThanARecordAndBursts) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_tls_ahead_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config = BaseConfig(slot, "stdout");
  config.more["source"] = {{"sslmode", "require"}};
  config.more["heartbeat"] = {{"interval_ms", "0"}};
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << relay.StderrTail(20);

  PgConnection conn = db.Connect();
  conn.Exec("SELECT outbox.publish('" + std::string(kAggregateType) +
            "', 'large', 'OrderPlaced', jsonb_build_object('pad', repeat('x', 200000)))");
  ASSERT_TRUE(WaitForText(relay.StdoutPath(), "\"large\"", 10s)) << "the 200 kB event did not arrive\n"
                                                                 << relay.StderrTail(20);
  EXPECT_TRUE(Contains(ReadFile(relay.StdoutPath()), "\"" + std::string(200000, 'x') + "\""))
      << "the 200 kB payload arrived cut or altered";
  conn.Exec("SELECT outbox.publish('" + std::string(kAggregateType) +
            "', 'burst-' || g, 'OrderPlaced', jsonb_build_object('seq', g)) FROM generate_series(1, 500) g");
  ASSERT_TRUE(WaitForText(relay.StdoutPath(), "\"burst-500\"", 10s))
      << "the last of 500 small events did not arrive\n"
      << relay.StderrTail(20);
  const std::string output = ReadFile(relay.StdoutPath());
  std::size_t previous = 0;
  for (int i = 1; i <= 500; ++i) {
    const std::size_t at = output.find("\"burst-" + std::to_string(i) + "\"");
    ASSERT_NE(at, std::string::npos) << "burst-" << i << " is missing";
    ASSERT_GT(at, previous) << "burst-" << i << " came out of commit order";
    previous = at;
  }
  StopCleanly(relay);
}

// A CA that did not sign the server's certificate, or a host name the certificate does not
// cover, stops the connection: check fails naming the TLS problem, and the relay logs it and
// never reaches its slot.
TEST_F(SecurityTest, PostgresVerifyFullRefusesWrongCaAndWrongHostName) {
  TestDatabase& db = CreateDatabase();
  struct Case {
    std::string name;
    std::string dsn;
    std::string root_cert;
    std::string expected;  // in libpq's error
  };
  const HarnessEnv& harness = Harness();
  const std::vector<Case> cases = {
      {"wrong_ca", db.RelayDsn(), harness.Get("HARNESS_UNRELATED_CA_FILE"), "certificate verify failed"},
      // hostaddr connects to the server; verify-full checks the certificate against host.
      {"wrong_host",
       "host=wrong-host.invalid hostaddr=127.0.0.1 port=" + harness.pg_port + " dbname=" + db.Name() +
           " user=" + harness.pg_user,
       harness.Get("HARNESS_CA_FILE"), "does not match host name"},
  };
  for (const Case& tls : cases) {
    SCOPED_TRACE(tls.name);
    const std::string slot = "it_" + tls.name + "_" + suffix_;
    db.DropSlotAtEnd(slot);
    RelayConfigOptions config = BaseConfig(slot, "stdout");
    config.dsn = tls.dsn;
    config.more["source"] = {{"sslmode", "verify-full"}, {"sslrootcert", tls.root_cert}};
    const std::string path = WriteConfig(tls.name + ".yaml", RenderRelayConfig(config));

    const CommandTranscript check = RunCommand({"check", "--config", path}, tls.name + "-check");
    EXPECT_TRUE(check.exit.exited && check.exit.code == 1) << check.exit.Describe();
    const auto failures = LinesWith(check.output, "FAIL connect to");
    ASSERT_EQ(failures.size(), 1u) << check.output;
    EXPECT_TRUE(Contains(failures.front(), tls.expected)) << failures.front();

    RelayProcess& relay = NewRelay(path, tls.name + "-relay");
    relay.Start();
    EXPECT_TRUE(WaitForLog(relay, tls.expected, 30s)) << relay.StderrTail(20);
    EXPECT_FALSE(db.Slot(slot).has_value()) << "the relay reached the database despite " << tls.name;
    const auto logged = LinesWith(ReadFile(relay.StderrPath()), tls.expected);
    if (!logged.empty()) std::cout << "[ info ] " << tls.name << ": " << logged.front() << "\n";
    relay.Kill();
  }
}

// ---- Kafka SASL/SCRAM over TLS --------------------------------------------------------------

// Through kafka.* pass-through (security.protocol SASL_SSL, SCRAM-SHA-512, the password from
// kafka.sasl.password_file, the harness CA), check reaches the broker and events reach Kafka.
TEST_F(SecurityTest, KafkaScramOverTlsDeliversEvents) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_scram_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config = BaseConfig(slot, "kafka");
  UseScram(config);
  const std::string path = WriteConfig("relay.yaml", RenderRelayConfig(config));

  const CommandTranscript check = RunCommand({"check", "--config", path}, "check");
  EXPECT_TRUE(check.exit.exited && check.exit.code == 0) << check.exit.Describe();
  EXPECT_EQ(LinesWith(check.output, "ok   kafka " + Harness().Get("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS")).size(), 1u);

  RelayProcess& relay = NewRelay(path, "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << relay.StderrTail(20);
  PublishEvents(5);
  const std::size_t delivered = WaitForRecords(ScramBroker(), 5, 60s);
  std::cout << "[ info ] " << delivered << " of 5 events read from " << Topic() << "\n";
  EXPECT_EQ(delivered, 5u) << relay.StderrTail(30);
  StopCleanly(relay);
}

// A wrong SCRAM password: check fails naming the authentication error, and the relay logs an
// error naming the keys to fix, delivers nothing and is not ready.
TEST_F(SecurityTest, KafkaWrongScramPasswordFailsClearly) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_badscram_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config = BaseConfig(slot, "kafka");
  UseScram(config, "wrong-" + suffix_);
  const std::string path = WriteConfig("relay.yaml", RenderRelayConfig(config));

  const CommandTranscript check = RunCommand({"check", "--config", path}, "check");
  EXPECT_TRUE(check.exit.exited && check.exit.code == 1) << check.exit.Describe();
  const auto failures = LinesWith(check.output, "FAIL kafka");
  ASSERT_EQ(failures.size(), 1u) << check.output;
  EXPECT_TRUE(Contains(failures.front(), "SASL authentication error")) << failures.front();

  RelayProcess& relay = NewRelay(path, "relay");
  relay.Start();
  const int port = WaitForHttpPort(relay, 30s);
  EXPECT_TRUE(WaitForLog(relay, "Kafka refused to authenticate the relay", 30s)) << relay.StderrTail(20);
  const auto errors = LinesWith(ReadFile(relay.StderrPath()), "Kafka refused to authenticate the relay");
  if (!errors.empty()) std::cout << "[ info ] relay: " << errors.front() << "\n";
  PublishEvents(1);
  std::this_thread::sleep_for(3s);
  const HttpResult ready = HttpGet("127.0.0.1", port, "/readyz");
  std::cout << "[ info ] /readyz " << ready.status << " " << ready.body;
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(WaitForRecords(ScramBroker(), 1, 2s), 0u) << "an event got through with a wrong password";
  relay.Kill();
}

// ---- Secrets ---------------------------------------------------------------------------------

// Known secrets (a PostgreSQL password from the environment, the SCRAM password from a file, a
// password inside a DSN) never show in anything the relay writes: `run` at debug level with
// librdkafka's security debug on, its /metrics, /readyz and /healthz, `check`, `status`, a config
// error, an unparsable DSN and a refused password.
TEST_F(SecurityTest, SecretsStayOutOfOutputLogsAndMetrics) {
  TestDatabase& db = CreateDatabase();
  const std::string pg_secret = "pg-secret-" + suffix_ + "-Qx7";
  const std::string dsn_secret = "dsn-secret-" + suffix_ + "-Wv3";
  const std::string scram_secret = Harness().Get("KAFKA_SCRAM_PASSWORD");
  const std::string role = CreateRole("secret", "REPLICATION", pg_secret);
  GrantOutboxSelect(role);
  const std::string slot = "it_secret_" + suffix_;
  db.DropSlotAtEnd(slot);
  const HarnessEnv& harness = Harness();
  const std::string dsn_base = "host=127.0.0.1 port=" + harness.pg_port + " dbname=" + db.Name() + " user=" + role;

  RelayConfigOptions config = BaseConfig(slot, "kafka");
  config.dsn = dsn_base;
  config.log_level = "debug";
  config.more["source"] = {{"sslmode", "verify-full"}, {"sslrootcert", harness.Get("HARNESS_CA_FILE")}};
  UseScram(config);
  config.kafka_properties["debug"] = "security,broker";
  const std::string path = WriteConfig("relay.yaml", RenderRelayConfig(config));
  const std::map<std::string, std::string> password_env = {{"OUTBOX_RELAY_SOURCE_PASSWORD", pg_secret}};

  std::vector<std::string> bodies;  // HTTP answers, checked like the logs
  {
    RelayProcess& relay = NewRelay(path, "run");
    relay.SetEnvironment(password_env);
    relay.Start();
    const int port = WaitForHttpPort(relay, 30s);
    ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << relay.StderrTail(20);
    PublishEvents(3);
    EXPECT_EQ(WaitForRecords(ScramBroker(), 3, 60s), 3u) << relay.StderrTail(30);
    for (const char* target : {"/metrics", "/readyz", "/healthz"})
      bodies.push_back(HttpGet("127.0.0.1", port, target).body);
    StopCleanly(relay);
  }
  const auto expect_exit = [](const CommandTranscript& result, int code) {
    EXPECT_TRUE(result.exit.exited && result.exit.code == code) << result.exit.Describe() << "\n" << result.output;
  };
  expect_exit(RunCommand({"check", "--config", path}, "check", password_env), 0);
  expect_exit(RunCommand({"status", "--config", path}, "status", password_env), 0);
  expect_exit(RunCommand({"status", "--json", "--config", path}, "status-json", password_env), 0);
  // A config error elsewhere, with every secret loaded.
  std::map<std::string, std::string> bad_env = password_env;
  bad_env["OUTBOX_RELAY_KAFKA_ACKS"] = "0";
  expect_exit(RunCommand({"run", "--config", path}, "config-error", bad_env), 2);
  // A DSN libpq cannot parse, right after its password.
  RelayConfigOptions unparsable = config;
  unparsable.dsn = dsn_base + " password=" + dsn_secret + " sslmode";
  const std::string unparsable_path = WriteConfig("unparsable.yaml", RenderRelayConfig(unparsable));
  expect_exit(RunCommand({"run", "--config", unparsable_path}, "unparsable-run"), 2);
  expect_exit(RunCommand({"check", "--config", unparsable_path}, "unparsable-check"), 2);
  // A password the server refuses, inside the DSN.
  RelayConfigOptions refused = config;
  refused.dsn = dsn_base + " password=" + dsn_secret;
  const std::string refused_path = WriteConfig("refused.yaml", RenderRelayConfig(refused));
  expect_exit(RunCommand({"check", "--config", refused_path}, "refused-check"), 1);
  {
    RelayProcess& relay = NewRelay(refused_path, "refused-run");
    relay.Start();
    EXPECT_TRUE(WaitForLog(relay, "password authentication failed", 30s)) << relay.StderrTail(20);
    relay.Kill();
  }

  std::size_t scanned = 0;
  std::size_t redacted = 0;
  const auto scan = [&](const std::string& what, const std::string& text) {
    scanned += text.size();
    for (std::size_t at = text.find("***"); at != std::string::npos; at = text.find("***", at + 3)) ++redacted;
    for (const auto& [name, secret] : std::map<std::string, std::string>{
             {"PostgreSQL password", pg_secret}, {"DSN password", dsn_secret}, {"SCRAM password", scram_secret}}) {
      EXPECT_FALSE(Contains(text, secret)) << "the " << name << " appears in " << what;
    }
  };
  for (const auto& process : relays_) {
    scan(process->StdoutPath(), ReadFile(process->StdoutPath()));
    scan(process->StderrPath(), ReadFile(process->StderrPath()));
  }
  for (const auto& body : bodies) scan("an HTTP answer", body);
  std::cout << "[ info ] scanned " << relays_.size() << " processes' output and " << bodies.size()
            << " HTTP answers (" << scanned << " bytes) for 3 secrets; " << redacted << " *** marks\n";
}

// ---- HTTP binding ---------------------------------------------------------------------------

// http.listen 127.0.0.1:PORT answers on 127.0.0.1 and refuses 127.0.0.2 (also loopback, routed
// via lo); with 0.0.0.0:PORT, 127.0.0.2 connects, so the refusal is the binding's doing.
TEST_F(SecurityTest, HttpEndpointBoundToLoopbackRefusesOtherAddresses) {
  TestDatabase& db = CreateDatabase();
  for (const std::string host : {"127.0.0.1", "0.0.0.0"}) {
    SCOPED_TRACE(host);
    const int port = UnusedLoopbackPort();
    const std::string slot = "it_http_" + std::string(host == "0.0.0.0" ? "any_" : "lo_") + suffix_;
    db.DropSlotAtEnd(slot);
    RelayConfigOptions config = BaseConfig(slot, "stdout");
    config.more["http"] = {{"listen", "\"" + host + ":" + std::to_string(port) + "\""}};
    RelayProcess& relay = NewRelay(WriteConfig("http-" + slot + ".yaml", RenderRelayConfig(config)), slot);
    relay.Start();
    ASSERT_EQ(WaitForHttpPort(relay, 30s), port);
    EXPECT_EQ(HttpGet("127.0.0.1", port, "/healthz").status, 200);
    std::string other_address;
    try {
      other_address = "HTTP " + std::to_string(HttpGet("127.0.0.2", port, "/healthz", 5s).status);
    } catch (const std::runtime_error& error) {
      other_address = error.what();
    }
    std::cout << "[ info ] listen " << host << ":" << port << ", 127.0.0.2: " << other_address << "\n";
    if (host == "127.0.0.1") {
      EXPECT_TRUE(Contains(other_address, "Connection refused")) << other_address;
    } else {
      EXPECT_EQ(other_address, "HTTP 200");
    }
    StopCleanly(relay);
  }
}

// ---- Least privilege -------------------------------------------------------------------------

// The role outbox/sql/relay_role.sql creates (REPLICATION, SELECT on outbox.outbox, nothing
// else), logging in with a password from source.password_file over verify-full TLS, passes
// check and streams end to end: the publication is the admin's (the migrations'), the slot the
// relay's own, and heartbeats and the WAL guard work without further grants.
TEST_F(SecurityTest, LeastPrivilegeRoleStreamsEndToEnd) {
  TestDatabase& db = CreateDatabase();
  const std::string role = "it_least_" + suffix_;
  const std::string password = "least-" + suffix_;
  {
    // The shipped script, for a role of this test (it names outbox_relay, which is cluster-wide).
    const std::string script = std::regex_replace(ReadFile(SourceDir() + "/outbox/sql/relay_role.sql"),
                                                  std::regex("\\boutbox_relay\\b"), role);
    PgConnection conn = db.Connect();
    conn.Exec(script);
    roles_.push_back(role);
    conn.Exec("ALTER ROLE " + conn.QuoteIdent(role) + " PASSWORD " + conn.QuoteLiteral(password) + "; GRANT " +
              Harness().Get("PG_PASSWORD_ROLE") + " TO " + conn.QuoteIdent(role));
    const PgResult attributes = conn.ExecParams(
        "SELECT rolreplication::text, rolsuper::text, rolcreatedb::text, rolcreaterole::text FROM pg_roles "
        "WHERE rolname = $1",
        {role});
    ASSERT_EQ(attributes.Size(), 1u) << "relay_role.sql created no role " << role;
    EXPECT_EQ(attributes.rows.front(), (std::vector<PgValue>{"true", "false", "false", "false"}));
  }
  const std::string slot = "it_least_" + suffix_;
  db.DropSlotAtEnd(slot);
  const HarnessEnv& harness = Harness();
  RelayConfigOptions config = BaseConfig(slot, "kafka");
  config.dsn = "host=127.0.0.1 port=" + harness.pg_port + " dbname=" + db.Name() + " user=" + role;
  config.more["source"] = {{"sslmode", "verify-full"},
                           {"sslrootcert", harness.Get("HARNESS_CA_FILE")},
                           {"password_file", WriteSecretFile("pg.password", password)}};
  config.more["heartbeat"] = {{"interval_ms", "300"}};
  config.more["wal_guard"] = {{"poll_interval_ms", "300"}};
  const std::string path = WriteConfig("relay.yaml", RenderRelayConfig(config));

  const CommandTranscript check = RunCommand({"check", "--config", path}, "check");
  EXPECT_TRUE(check.exit.exited && check.exit.code == 0) << check.exit.Describe();

  RelayProcess& relay = NewRelay(path, "relay");
  relay.Start();
  const int port = WaitForHttpPort(relay, 30s);
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << relay.StderrTail(20);
  PublishEvents(5);
  const std::size_t delivered = WaitForRecords(Harness().kafka_bootstrap_servers, 5, 60s);
  std::cout << "[ info ] " << delivered << " of 5 events delivered as " << role << "\n";
  EXPECT_EQ(delivered, 5u) << relay.StderrTail(30);
  std::this_thread::sleep_for(1s);
  const std::string metrics = HttpGet("127.0.0.1", port, "/metrics").body;
  const auto heartbeats = MetricSum(metrics, "outbox_relay_heartbeats_total");
  std::cout << "[ info ] heartbeats written: " << heartbeats.value_or(-1) << "\n";
  EXPECT_GT(heartbeats.value_or(0), 0) << "no heartbeat as the least-privilege role";
  // The relay's own warnings cover a failed heartbeat or slot poll; librdkafka's (a fresh
  // broker's coordinator still loading) are not about privileges.
  const std::string log = ReadFile(relay.StderrPath());
  EXPECT_TRUE(LinesWith(log, " error ").empty() && LinesWith(log, " warning [relay]").empty() &&
              LinesWith(log, "permission denied").empty())
      << log;
  StopCleanly(relay);
}

// The relay's role with one grant missing: `run` stops with exit 1 and one error line naming
// it and how to grant it; `check` fails on the same point.
TEST_F(SecurityTest, MissingReplicationOrSelectStopsRunAndCheck) {
  TestDatabase& db = CreateDatabase();
  struct Case {
    std::string name;
    std::string attributes;
    bool grant_select;
    std::string run_names;    // in the relay's error line
    std::string check_names;  // in check's FAIL line
  };
  const std::vector<Case> cases = {
      {"norepl", "", true, "lacks REPLICATION", "FAIL role "},
      {"noselect", "REPLICATION", false, "lacks SELECT on outbox.outbox", "FAIL SELECT on outbox.outbox"},
  };
  for (const Case& missing : cases) {
    SCOPED_TRACE(missing.name);
    const std::string role = CreateRole(missing.name, missing.attributes);
    if (missing.grant_select) GrantOutboxSelect(role);
    const std::string slot = "it_" + missing.name + "_" + suffix_;
    db.DropSlotAtEnd(slot);
    RelayConfigOptions config = BaseConfig(slot, "kafka");
    config.dsn = db.RelayDsn() + " user=" + role;
    const std::string path = WriteConfig(missing.name + ".yaml", RenderRelayConfig(config));

    RelayProcess& relay = NewRelay(path, missing.name + "-run");
    relay.Start();
    const auto exit = relay.WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << "the relay still runs 60 s after start without " << missing.name;
    EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
    const std::string log = ReadFile(relay.StderrPath());
    const auto errors = LinesWith(log, " error ");
    ASSERT_EQ(errors.size(), 1u) << log;
    std::cout << "[ info ] " << missing.name << ": " << errors.front() << "\n";
    EXPECT_TRUE(Contains(errors.front(), missing.run_names)) << errors.front();
    EXPECT_FALSE(db.Slot(slot).has_value()) << "the relay created its slot without " << missing.name;

    const CommandTranscript check = RunCommand({"check", "--config", path}, missing.name + "-check");
    EXPECT_TRUE(check.exit.exited && check.exit.code == 1) << check.exit.Describe();
    EXPECT_EQ(LinesWith(check.output, "FAIL ").size(), 1u) << check.output;
    EXPECT_EQ(LinesWith(check.output, missing.check_names).size(), 1u) << check.output;
  }
}

}  // namespace
}  // namespace outbox_relay::it
