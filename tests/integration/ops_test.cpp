// Operations acceptance tests: the relay's HTTP port (/metrics checked by promtool and scraped
// by a real Prometheus server, /healthz, /readyz), the example alert rules, the heartbeat, a
// SIGTERM mid-stream, the WAL guard and JSON logs, against the real PostgreSQL and Kafka.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include "support/http_client.hpp"
#include "support/kafka_reader.hpp"
#include "support/lsn_text.hpp"
#include "support/oracle.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every metric family the relay exports (relay/server/metrics.cpp); README.md documents each.
const std::vector<std::string> kFamilies = {"outbox_relay_events_published_total",
                                            "outbox_relay_bytes_published_total",
                                            "outbox_relay_delivery_errors_total",
                                            "outbox_relay_dead_lettered_total",
                                            "outbox_relay_in_flight_events",
                                            "outbox_relay_in_flight_bytes",
                                            "outbox_relay_received_lsn",
                                            "outbox_relay_acknowledged_lsn",
                                            "outbox_relay_replication_lag_bytes",
                                            "outbox_relay_replication_lag_seconds",
                                            "outbox_relay_slot_retained_wal_bytes",
                                            "outbox_relay_wal_guard_exceeded",
                                            "outbox_relay_commit_to_ack_seconds",
                                            "outbox_relay_transaction_events",
                                            "outbox_relay_reconnects_total",
                                            "outbox_relay_heartbeats_total",
                                            "outbox_relay_ready",
                                            "outbox_relay_build_info"};

// The full path of `name` on $PATH, or "" if it is not there.
std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// `name` from the Debian package prometheus (promtool, prometheus); throws with a hint if absent.
std::string RequireProgram(const std::string& name) {
  std::string path = FindProgram(name);
  if (path.empty()) {
    throw std::runtime_error(name +
                             " is not on PATH: install the Debian package prometheus "
                             "(scripts/install-deps.sh does)");
  }
  return path;
}

struct CommandStreams {
  ExitStatus exit;
  std::string out;  // stdout
  std::string err;  // stderr
};

// The LSN columns of one slot and the server's current WAL position.
struct SlotSample {
  double at_seconds = 0;
  std::uint64_t current = 0;
  std::uint64_t restart = 0;
  std::uint64_t confirmed = 0;
  std::uint64_t Retained() const { return current - restart; }
};

SlotSample SampleSlot(PgConnection& conn, const std::string& slot, Clock::time_point start) {
  auto rows = conn.ExecParams(
      "SELECT pg_current_wal_lsn()::text, restart_lsn::text, confirmed_flush_lsn::text "
      "FROM pg_replication_slots WHERE slot_name = $1",
      {slot});
  if (rows.Empty()) throw std::runtime_error("slot " + slot + " does not exist");
  SlotSample sample;
  sample.at_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sample.current = ParseLsnText(rows.Text(0, 0)).value();
  sample.restart = ParseLsnText(rows.Text(0, 1)).value();
  sample.confirmed = ParseLsnText(rows.Text(0, 2)).value();
  return sample;
}

std::string Mebibytes(std::uint64_t bytes) {
  std::ostringstream out;
  out.precision(1);
  out << std::fixed << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return out.str();
}

// What OpsTest::RunBusyOtherTable measured.
struct BusyRun {
  std::map<std::string, std::vector<SlotSample>> samples;  // by slot, oldest first
  std::uint64_t wal_written = 0;  // server WAL position advance over the busy period
};

void PrintSamples(const std::string& slot, const std::vector<SlotSample>& samples) {
  std::cout << "[ info ] slot " << slot << ": t, current WAL, restart_lsn, confirmed_flush_lsn, retained\n";
  for (const auto& sample : samples) {
    std::cout << "[ info ]   " << static_cast<int>(sample.at_seconds) << "s " << FormatLsn(sample.current) << " "
              << FormatLsn(sample.restart) << " " << FormatLsn(sample.confirmed) << " "
              << Mebibytes(sample.Retained()) << "\n";
  }
}

class OpsTest : public RelayIntegrationTest {
 protected:
  void TearDown() override {
    for (auto& process : others_) {
      if (process->Running()) process->Kill();
      if (HasFailure()) {
        std::cout << "----- tail of " << process->StderrPath() << " -----\n"
                  << process->StderrTail(40) << "----- end -----\n";
      }
    }
    others_.clear();
    RelayIntegrationTest::TearDown();
  }

  // A program other than the relay (promtool, prometheus), output into the temp dir; when
  // `stdin_path` is not empty it is the program's standard input. Not started yet.
  RelayProcess& NewProcess(const std::string& label, const std::string& program, std::vector<std::string> args,
                           const std::string& stdin_path = "") {
    std::string binary = program;
    if (!stdin_path.empty()) {
      // sh -c '<script>' sh <stdin> <program> <args...>: the script sees them as $1, $2, ...
      args.insert(args.begin(), {"-c", "f=$1; shift; exec \"$@\" < \"$f\"", "sh", stdin_path, program});
      binary = "/bin/sh";
    }
    others_.push_back(std::make_unique<RelayProcess>(binary, std::move(args), temp_->File(label + ".stdout"),
                                                     temp_->File(label + ".stderr")));
    return *others_.back();
  }

  // Runs a program to its end (bounded by `timeout`, then SIGKILLed and thrown about).
  CommandStreams RunCommand(const std::string& label, const std::string& program, std::vector<std::string> args,
                            const std::string& stdin_path = "", std::chrono::milliseconds timeout = 60s) {
    RelayProcess& process = NewProcess(label, program, std::move(args), stdin_path);
    process.Start();
    const auto exit = process.WaitFor(timeout);
    if (!exit) {
      process.Kill();
      throw std::runtime_error(program + " did not finish within " + std::to_string(timeout.count()) + " ms");
    }
    // RelayProcess wraps the output in "===== test harness:" lines; keep the program's own.
    auto strip = [](const std::string& text) {
      std::istringstream lines(text);
      std::string line;
      std::string out;
      while (std::getline(lines, line)) {
        if (line.rfind("===== test harness:", 0) != 0) out += line + "\n";
      }
      return out;
    };
    return {*exit, strip(ReadFile(process.StdoutPath())), strip(ReadFile(process.StderrPath()))};
  }

  // The Kafka sink config of a relay on `slot` with this test's topics.
  RelayConfigOptions KafkaConfig(const TestDatabase& db, const std::string& slot) const {
    RelayConfigOptions config;
    config.dsn = db.RelayDsn();
    config.slot = slot;
    config.topic = Topic("{aggregate_type}");
    config.sink = "kafka";
    config.bootstrap_servers = Harness().kafka_bootstrap_servers;
    return config;
  }

  std::string Topic(const std::string& aggregate_type) const { return "it." + suffix_ + "." + aggregate_type; }

  // Starts `relay` and returns its HTTP port once it logged it.
  int StartRelay(RelayProcess& relay) {
    relay.Start();
    return WaitForHttpPort(relay, 60s);
  }

  // GET /metrics, which must answer 200.
  static std::string Scrape(int port) {
    const HttpResult result = HttpGet(kLoopback, port, "/metrics");
    if (result.status != 200) {
      throw std::runtime_error("/metrics answered " + std::to_string(result.status) + ": " + result.body);
    }
    return result.body;
  }

  // Scrapes until the sum of family `name` equals `wanted` or `timeout` passes; returns the last
  // scrape (the caller checks the value).
  static std::string WaitForMetricSum(int port, const std::string& name, double wanted,
                                      std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      std::string body = Scrape(port);
      if (MetricSum(body, name).value_or(-1) == wanted || Clock::now() >= deadline) return body;
      std::this_thread::sleep_for(200ms);
    }
  }

  // Polls /readyz until it answers 200 (true) or `timeout` passes (false).
  static bool WaitForReady(int port, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      if (HttpGet(kLoopback, port, "/readyz").status == 200) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(200ms);
    }
  }

  // `count` events of `aggregate_type` in one transaction.
  static void Publish(PgConnection& conn, const std::string& aggregate_type, int count) {
    conn.ExecParams(
        "SELECT count(outbox.publish($1, 'agg-' || (i % 10), 'Created', jsonb_build_object('seq', i))) "
        "FROM generate_series(1, $2::int) i",
        {aggregate_type, std::to_string(count)});
  }

  // For `duration`, inserts continuously into public.busy (outside the publication), paced to
  // about 3 MiB of WAL per second by the server's WAL position, and samples `slots` every 3 s.
  static BusyRun RunBusyOtherTable(TestDatabase& db, const std::vector<std::string>& slots,
                                   std::chrono::seconds duration) {
    BusyRun run;
    PgConnection monitor = db.Connect();
    const auto start = Clock::now();
    for (const auto& slot : slots) run.samples[slot].push_back(SampleSlot(monitor, slot, start));
    const std::uint64_t wal_start = run.samples[slots.front()].front().current;
    std::atomic<bool> stop{false};
    std::string writer_error;
    std::thread writer([&] {
      try {
        PgConnection conn = db.Connect();
        constexpr double kBytesPerSecond = 3.0 * 1024 * 1024;
        while (!stop.load()) {
          conn.Exec("INSERT INTO public.busy (pad) SELECT repeat('x', 200) FROM generate_series(1, 500)");
          const auto lsn = ParseLsnText(conn.Exec("SELECT pg_current_wal_lsn()::text").Text(0, 0)).value();
          const double ahead = static_cast<double>(lsn - wal_start) / kBytesPerSecond -
                               std::chrono::duration<double>(Clock::now() - start).count();
          if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(std::min(ahead, 1.0)));
        }
      } catch (const std::exception& e) {
        writer_error = e.what();
      }
    });
    while (Clock::now() - start < duration) {
      std::this_thread::sleep_for(3s);
      for (const auto& slot : slots) run.samples[slot].push_back(SampleSlot(monitor, slot, start));
    }
    stop = true;
    writer.join();
    if (!writer_error.empty()) throw std::runtime_error("busy writer failed: " + writer_error);
    run.wal_written = run.samples[slots.front()].back().current - wal_start;
    return run;
  }

  std::vector<std::unique_ptr<RelayProcess>> others_;
};

// After the relay published events to Kafka, its /metrics text passes `promtool check metrics`
// (exit 0, no lint problem printed), exposes every family (delivery errors only once one
// happened) and README.md names each.
TEST_F(OpsTest, MetricsPassPromtool) {
  const std::string promtool = RequireProgram("promtool");
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ops_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(KafkaConfig(db, slot))), "relay");
  const int port = StartRelay(relay);
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << "the relay did not activate slot " << slot;

  PgConnection conn = db.Connect();
  Publish(conn, "order", 30);
  Publish(conn, "customer", 20);
  const std::string body = WaitForMetricSum(port, "outbox_relay_events_published_total", 50, 60s);
  ASSERT_EQ(MetricSum(body, "outbox_relay_events_published_total"), 50.0) << body;
  auto published = [&](const std::string& type) {
    return MetricSample(body, "outbox_relay_events_published_total{topic=\"" + Topic(type) + "\"}");
  };
  EXPECT_EQ(published("order"), 30.0);
  EXPECT_EQ(published("customer"), 20.0);

  const std::string scrape_path = WriteConfig("metrics.txt", body);
  const CommandStreams check = RunCommand("promtool-metrics", promtool, {"check", "metrics"}, scrape_path);
  std::cout << "[ info ] promtool check metrics: " << check.exit.Describe() << ", " << body.size()
            << " bytes checked\n";
  EXPECT_TRUE(check.exit.exited && check.exit.code == 0) << check.exit.Describe() << "\n"
                                                         << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << "promtool reported problems";

  const std::string readme = ReadFile(SourceDir() + "/README.md");
  for (const auto& family : kFamilies) {
    EXPECT_NE(readme.find("`" + family + "`"), std::string::npos) << "README.md does not name " << family;
    // prometheus-cpp exposes a labelled family only once it has a child: delivery errors
    // appear with the first error (none here).
    if (family == "outbox_relay_delivery_errors_total") continue;
    EXPECT_NE(body.find("# TYPE " + family + " "), std::string::npos) << family << " is not exposed";
  }
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    const std::string family = line.substr(7, line.find(' ', 7) - 7);
    EXPECT_NE(readme.find("`" + family + "`"), std::string::npos)
        << family << " is exposed but README.md's Metrics table does not name it";
  }
}

// A real Prometheus server scraping the relay every second (with docs/alerts.yml loaded) reports
// sum(outbox_relay_events_published_total) equal to the number of events written.
TEST_F(OpsTest, PrometheusScrapesEventsPublished) {
  const std::string prometheus = RequireProgram("prometheus");
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ops_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(KafkaConfig(db, slot))), "relay");
  const int relay_port = StartRelay(relay);
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << "the relay did not activate slot " << slot;

  const int prometheus_port = UnusedLoopbackPort();
  const std::string prometheus_config = WriteConfig("prometheus.yml",
                                                    "global:\n"
                                                    "  scrape_interval: 1s\n"
                                                    "  evaluation_interval: 1s\n"
                                                    "rule_files:\n"
                                                    "  - \"" +
                                                        SourceDir() +
                                                        "/docs/alerts.yml\"\n"
                                                        "scrape_configs:\n"
                                                        "  - job_name: outbox-relay\n"
                                                        "    static_configs:\n"
                                                        "      - targets: [\"127.0.0.1:" +
                                                        std::to_string(relay_port) + "\"]\n");
  RelayProcess& server =
      NewProcess("prometheus", prometheus,
                 {"--config.file=" + prometheus_config, "--storage.tsdb.path=" + temp_->File("prometheus-data"),
                  "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)});
  server.Start();
  std::cout << "[ info ] prometheus pid " << server.Pid() << " on 127.0.0.1:" << prometheus_port
            << ", scraping the relay on 127.0.0.1:" << relay_port << "\n";
  bool ready = false;
  for (const auto deadline = Clock::now() + 60s; !ready && Clock::now() < deadline && server.Running();) {
    try {
      ready = HttpGet(kLoopback, prometheus_port, "/-/ready", 5s).status == 200;
    } catch (const std::runtime_error&) {
      // Not listening yet.
    }
    if (!ready) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(ready) << "prometheus was not ready within 60 s:\n" << server.StderrTail(20);

  constexpr int kEvents = 240;
  PgConnection conn = db.Connect();
  for (const char* type : {"order", "customer", "invoice", "shipment"}) Publish(conn, type, kEvents / 4);

  const std::string query = "/api/v1/query?query=" + UrlEncode("sum(outbox_relay_events_published_total)");
  std::string answer;
  double seen = -1;
  const auto wait_start = Clock::now();
  for (const auto deadline = wait_start + 90s; seen != kEvents && Clock::now() < deadline;) {
    const HttpResult result = HttpGet(kLoopback, prometheus_port, query);
    answer = result.body;
    const auto json = nlohmann::json::parse(answer, nullptr, false);
    if (result.status == 200 && !json.is_discarded() && json.value("status", "") == "success" &&
        !json["data"]["result"].empty()) {
      seen = std::stod(json["data"]["result"][0]["value"][1].get<std::string>());
    }
    if (seen != kEvents) std::this_thread::sleep_for(500ms);
  }
  std::cout << "[ info ] prometheus: sum(outbox_relay_events_published_total) = " << seen << " after "
            << Seconds(Clock::now() - wait_start) << "\n";
  EXPECT_EQ(seen, kEvents) << "last answer: " << answer;

  const HttpResult rules = HttpGet(kLoopback, prometheus_port, "/api/v1/rules?type=alert");
  const auto rules_json = nlohmann::json::parse(rules.body, nullptr, false);
  std::size_t alerting_rules = 0;
  if (!rules_json.is_discarded() && rules_json.contains("data")) {
    for (const auto& group : rules_json["data"]["groups"]) alerting_rules += group["rules"].size();
  }
  EXPECT_EQ(alerting_rules, 4u) << "docs/alerts.yml's rules not loaded: " << rules.body;

  server.Signal(SIGTERM);
  const auto exit = server.WaitFor(30s);
  if (!exit) server.Kill();
  EXPECT_TRUE(exit && exit->exited && exit->code == 0)
      << "prometheus after SIGTERM: " << (exit ? exit->Describe() : "still running after 30 s");
}

// The example alert rules of README.md (docs/alerts.yml) pass `promtool check rules`: 3 rules.
TEST_F(OpsTest, AlertRulesPassPromtool) {
  const std::string promtool = RequireProgram("promtool");
  const CommandStreams check =
      RunCommand("promtool-rules", promtool, {"check", "rules", SourceDir() + "/docs/alerts.yml"});
  std::cout << check.out << check.err;
  EXPECT_TRUE(check.exit.exited && check.exit.code == 0) << check.exit.Describe() << "\n"
                                                         << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS: 4 rules found"), std::string::npos) << check.out;
}

// With the outbox idle and another table busy for 30 s (about 90 MiB of WAL), the slot of a
// relay with heartbeat.interval_ms 1000 keeps moving: heartbeats are written, confirmed_flush_lsn
// advances, restart_lsn passes the WAL of before the run and the last sample retains less than
// 64 MiB. A control relay with heartbeat 0 (same workload, own slot) writes no heartbeat, yet its
// slot moves the same way: the relay confirms the position of the server's keepalives while
// nothing is in flight, so on PostgreSQL 15 the heartbeat is not what moves an idle slot.
TEST_F(OpsTest, HeartbeatKeepsSlotMovingWhileOnlyAnotherTableIsBusy) {
  TestDatabase& db = CreateDatabase();
  PgConnection conn = db.Connect();
  conn.Exec("CREATE TABLE public.busy (id bigserial PRIMARY KEY, pad text)");
  const std::string heartbeat_slot = "it_ops_hb_" + suffix_;
  const std::string control_slot = "it_ops_nohb_" + suffix_;
  db.DropSlotAtEnd(heartbeat_slot);
  db.DropSlotAtEnd(control_slot);

  RelayConfigOptions heartbeat_config = KafkaConfig(db, heartbeat_slot);
  heartbeat_config.more["heartbeat"]["interval_ms"] = "1000";
  heartbeat_config.more["wal_guard"]["poll_interval_ms"] = "1000";
  RelayConfigOptions control_config = KafkaConfig(db, control_slot);
  control_config.more["heartbeat"]["interval_ms"] = "0";
  control_config.more["wal_guard"]["poll_interval_ms"] = "1000";
  RelayProcess& heartbeat_relay =
      NewRelay(WriteConfig("heartbeat.yaml", RenderRelayConfig(heartbeat_config)), "heartbeat");
  RelayProcess& control_relay =
      NewRelay(WriteConfig("control.yaml", RenderRelayConfig(control_config)), "control");
  const int heartbeat_port = StartRelay(heartbeat_relay);
  const int control_port = StartRelay(control_relay);
  ASSERT_TRUE(WaitForReady(heartbeat_port, 60s)) << "the heartbeat relay never became ready";
  ASSERT_TRUE(WaitForReady(control_port, 60s)) << "the control relay never became ready";

  // restart_lsn moves only at the running-transactions records the server logs every 15 s, so
  // a slot that keeps up still retains up to ~18 s of WAL: ~54 MiB at 3 MiB/s, under the bound,
  // while the 30 s write more than it.
  constexpr std::uint64_t kBound = 64ull * 1024 * 1024;
  const BusyRun run = RunBusyOtherTable(db, {heartbeat_slot, control_slot}, 30s);
  ASSERT_TRUE(heartbeat_relay.Running()) << heartbeat_relay.StderrTail(10);
  ASSERT_TRUE(control_relay.Running()) << control_relay.StderrTail(10);
  auto heartbeats_of = [](int port) {
    return MetricSum(Scrape(port), "outbox_relay_heartbeats_total").value_or(-1);
  };
  const double heartbeats = heartbeats_of(heartbeat_port);
  const double control_heartbeats = heartbeats_of(control_port);

  std::cout << "[ info ] WAL written during the 30 s: " << Mebibytes(run.wal_written) << "; heartbeats "
            << heartbeats << " (heartbeat relay), " << control_heartbeats << " (control)\n";
  for (const auto& [slot, samples] : run.samples) PrintSamples(slot, samples);
  ASSERT_GT(run.wal_written, kBound) << "the busy writer wrote too little WAL for the bound to mean anything";

  EXPECT_GE(heartbeats, 10) << "heartbeat.interval_ms 1000 wrote too few heartbeats in 30 s";
  EXPECT_EQ(control_heartbeats, 0) << "heartbeat.interval_ms 0 still wrote heartbeats";
  for (const auto& [slot, samples] : run.samples) {
    std::size_t advanced = 0;
    std::uint64_t max_retained = 0;
    for (std::size_t i = 1; i < samples.size(); ++i) {
      advanced += samples[i].confirmed > samples[i - 1].confirmed ? 1 : 0;
      max_retained = std::max(max_retained, samples[i].Retained());
    }
    std::cout << "[ info ] " << slot << ": confirmed_flush_lsn advanced in " << advanced << " of "
              << samples.size() - 1 << " intervals, by "
              << Mebibytes(samples.back().confirmed - samples.front().confirmed) << "; retained WAL last "
              << Mebibytes(samples.back().Retained()) << ", max " << Mebibytes(max_retained) << "\n";
    EXPECT_GE(advanced, (samples.size() - 1) / 2) << slot << ": confirmed_flush_lsn stalled";
    EXPECT_GT(samples.back().restart, samples.front().current)
        << slot << ": restart_lsn never passed the WAL of before the run";
    EXPECT_LT(samples.back().Retained(), kBound) << slot << ": the slot retains the busy table's WAL";
  }
}

// SIGTERM while a 20,000-event workload streams (at-least-once, Kafka): the relay drains and
// exits 0 within shutdown.timeout_ms, the slot holds the position it logged confirming;
// restarted, it delivers the rest, and in the end every committed event is in Kafka exactly once
// (0 lost, 0 duplicated, per-aggregate order kept).
TEST_F(OpsTest, SigtermMidStreamExitsZeroAndRestartDeliversEachEventOnce) {
  const HarnessEnv& harness = Harness();
  TestDatabase& db = CreateDatabase();
  WorkloadOptions options = WorkloadOptions::Sized(5000, 500, 10, 2500);
  options.seed = std::random_device{}();
  ASSERT_EQ(options.TotalEvents(), 20000);
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, options);
  scenario.DropSlotsAtEnd(db);
  std::cout << "[ info ] seed " << options.seed << ", slot " << scenario.slot << "\n";
  PgConnection conn = db.Connect();
  CreateOtherTable(conn);
  CreateOracleSlot(conn, scenario.oracle_slot);

  constexpr auto kShutdownTimeout = 15s;
  RelayConfigOptions config = scenario.RelayConfig(db, harness);
  config.more["shutdown"]["timeout_ms"] = std::to_string(std::chrono::milliseconds(kShutdownTimeout).count());
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  int port = StartRelay(relay);
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, true, 60s)) << "the relay did not activate " << scenario.slot;

  BackgroundWriter writer(db.Connect(), options);
  double published_at_term = 0;
  for (const auto deadline = Clock::now() + 120s; Clock::now() < deadline && !writer.Done();) {
    published_at_term = MetricSum(Scrape(port), "outbox_relay_events_published_total").value_or(0);
    if (writer.Committed() >= options.TotalEvents() * 3 / 10 && published_at_term > 0) break;
    std::this_thread::sleep_for(100ms);
  }
  const int committed_at_term = writer.Committed();
  ASSERT_FALSE(writer.Done()) << "the writer finished before the SIGTERM: " << writer.Error();
  ASSERT_GT(published_at_term, 0) << "nothing was published within 120 s";
  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(kShutdownTimeout + 10s);
  ASSERT_TRUE(exit.has_value()) << "the relay was still running " << Seconds(kShutdownTimeout + 10s)
                                << " after SIGTERM (shutdown.timeout_ms " << kShutdownTimeout.count() << " s)";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();
  ASSERT_TRUE(db.WaitForSlot(scenario.slot, false, 30s));
  // The relay logs "confirmed <lsn> to slot <slot>" after its final standby status update.
  const std::string log = ReadFile(relay.StderrPath());
  const auto confirmed_at = log.rfind("confirmed ");
  std::uint64_t logged_confirmed = 0;
  if (confirmed_at != std::string::npos) {
    const auto lsn_end = log.find(' ', confirmed_at + 10);
    logged_confirmed = ParseLsnText(log.substr(confirmed_at + 10, lsn_end - confirmed_at - 10)).value_or(0);
  }
  const std::uint64_t slot_confirmed = db.Slot(scenario.slot)->confirmed_flush_lsn.value_or(0);
  std::cout << "[ info ] SIGTERM with " << committed_at_term << " events committed, >= " << published_at_term
            << " published; the relay logged confirming " << FormatLsn(logged_confirmed) << ", the slot stands at "
            << FormatLsn(slot_confirmed) << "\n";
  EXPECT_EQ(slot_confirmed, logged_confirmed) << "the final confirmation the relay logged did not reach the slot";

  relay.Start();
  port = WaitForHttpPort(relay, 60s);
  ASSERT_TRUE(writer.WaitFor(180s)) << "the writer did not finish within 180 s";
  ASSERT_EQ(writer.Error(), "");
  const WorkloadResult& written = writer.Result();
  const std::vector<LedgerEvent> ledger = ReadLedger(conn);
  ASSERT_EQ(ledger.size(), written.committed_ids.size());
  const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
  ASSERT_TRUE(oracle.anomalies.empty()) << oracle.anomalies.front();

  std::unordered_set<std::string> wanted;
  for (const auto& event : ledger) wanted.insert(event.id);
  KafkaReader reader(harness.kafka_bootstrap_servers, scenario.topics);
  const std::size_t delivered = WaitForDelivery(reader, wanted, 240s, [&] { return relay.Running(); });
  std::cout << "[ info ] " << delivered << " of " << wanted.size() << " events read after the restart\n";
  relay.Signal(SIGTERM);
  const auto final_exit = relay.WaitFor(kShutdownTimeout + 10s);
  ASSERT_TRUE(final_exit.has_value()) << "the restarted relay did not exit after SIGTERM";
  EXPECT_TRUE(final_exit->exited && final_exit->code == 0) << final_exit->Describe();

  reader.CatchUp(120s);
  AnalysisOptions analysis;
  analysis.topic_template = scenario.topic_template;
  analysis.oracle = &oracle;
  analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(), written.rolled_back_ids.end());
  const DeliveryReport report = Analyze(ledger, reader.Records(), analysis);
  std::cout << "[ oracle ] " << report.Summary() << "\n";
  std::cout << "[ oracle ] committed=" << report.committed << " records=" << report.records
            << " distinct=" << report.distinct_delivered << " lost=" << report.lost
            << " duplicated=" << report.duplicated << " reordered=" << report.reordered << "\n";
  ExpectNothingLostOrReordered(report);
  EXPECT_EQ(report.duplicated, 0u) << "a SIGTERM is a clean stop: nothing may be sent twice";
}

// /readyz answers 200 on the relay streaming from the slot and on a second relay configured for
// the same slot (a standby, which can take over); /status and outbox_relay_active tell them
// apart; /healthz is 200 on both.
TEST_F(OpsTest, ReadyzIsOkOnTheActiveRelayAndOnAStandbyThatCanTakeOver) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ops_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config = KafkaConfig(db, slot);
  config.more["source"]["reconnect_backoff_max_ms"] = "1000";
  const std::string config_path = WriteConfig("relay.yaml", RenderRelayConfig(config));
  RelayProcess& active = NewRelay(config_path, "active");
  const int active_port = StartRelay(active);
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << "the relay did not activate slot " << slot;
  ASSERT_TRUE(WaitForReady(active_port, 60s)) << HttpGet(kLoopback, active_port, "/readyz").body;
  PgConnection conn = db.Connect();
  Publish(conn, "order", 5);
  ASSERT_EQ(MetricSum(WaitForMetricSum(active_port, "outbox_relay_events_published_total", 5, 60s),
                      "outbox_relay_events_published_total"),
            5.0);

  RelayProcess& standby = NewRelay(config_path, "standby");
  const int standby_port = StartRelay(standby);
  // The standby has tried the slot and been refused when the server's error is in its log.
  bool refused = false;
  for (const auto deadline = Clock::now() + 60s; !refused && Clock::now() < deadline && standby.Running();) {
    refused = ReadFile(standby.StderrPath()).find("is active for PID") != std::string::npos;
    if (!refused) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(refused) << "the standby never reported the slot as taken:\n" << standby.StderrTail(20);
  // Ready once its sink reports a connection (librdkafka's statistics, within about 5 s); the
  // expectations below say what it answered otherwise.
  WaitForReady(standby_port, 30s);

  const HttpResult active_ready = HttpGet(kLoopback, active_port, "/readyz");
  const HttpResult standby_ready = HttpGet(kLoopback, standby_port, "/readyz");
  std::cout << "[ info ] /readyz active: " << active_ready.status << " " << active_ready.body
            << "[ info ] /readyz standby: " << standby_ready.status << " " << standby_ready.body;
  EXPECT_EQ(active_ready.status, 200) << active_ready.body;
  EXPECT_EQ(standby_ready.status, 200) << standby_ready.body;
  EXPECT_NE(standby_ready.body.find("standby: replication slot " + slot), std::string::npos) << standby_ready.body;
  EXPECT_NE(standby_ready.body.find("ready to take over"), std::string::npos) << standby_ready.body;
  const auto active_status = nlohmann::json::parse(HttpGet(kLoopback, active_port, "/status").body);
  const auto standby_status = nlohmann::json::parse(HttpGet(kLoopback, standby_port, "/status").body);
  EXPECT_EQ(active_status.at("role"), "active") << active_status;
  EXPECT_EQ(standby_status.at("role"), "standby") << standby_status;
  EXPECT_EQ(standby_status.at("ready"), true) << standby_status;
  EXPECT_EQ(standby_status.at("slot"), slot) << standby_status;
  const std::string active_metrics = Scrape(active_port);
  const std::string standby_metrics = Scrape(standby_port);
  EXPECT_EQ(MetricSample(active_metrics, "outbox_relay_ready"), 1.0);
  EXPECT_EQ(MetricSample(standby_metrics, "outbox_relay_ready"), 1.0);
  EXPECT_EQ(MetricSample(active_metrics, "outbox_relay_active"), 1.0);
  EXPECT_EQ(MetricSample(standby_metrics, "outbox_relay_active"), 0.0);
  for (const int port : {active_port, standby_port}) {
    const HttpResult health = HttpGet(kLoopback, port, "/healthz");
    EXPECT_EQ(health.status, 200) << "port " << port << ": " << health.body;
  }
  EXPECT_TRUE(active.Running());
  EXPECT_TRUE(standby.Running()) << standby.StderrTail(10);
}

// wal_guard.max_bytes 2 (warn 1) is always exceeded (a slot retains some WAL): with action stop
// the relay exits 1 naming wal_guard.max_bytes.
TEST_F(OpsTest, WalGuardStopExitsOneOverMaxBytes) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ops_" + suffix_;
  db.DropSlotAtEnd(slot);
  PgConnection conn = db.Connect();
  conn.ExecParams("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
  Publish(conn, "order", 1);  // WAL past the new slot's restart_lsn
  RelayConfigOptions config = KafkaConfig(db, slot);
  config.more["wal_guard"] = {
      {"warn_bytes", "1"}, {"max_bytes", "2"}, {"action", "stop"}, {"poll_interval_ms", "200"}};
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  relay.Start();
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay kept running 60 s over wal_guard.max_bytes";
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
  const std::string log = ReadFile(relay.StderrPath());
  EXPECT_NE(log.find("wal_guard.max_bytes"), std::string::npos) << log;
  std::cout << "[ info ] " << relay.StderrTail(12);
}

// The same limits with action alert: the relay keeps running and exposes
// outbox_relay_wal_guard_exceeded{level="max"} 1 (and level="warn" 1).
TEST_F(OpsTest, WalGuardAlertKeepsRunningAndRaisesTheGauge) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ops_" + suffix_;
  db.DropSlotAtEnd(slot);
  PgConnection conn = db.Connect();
  conn.ExecParams("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
  Publish(conn, "order", 1);
  RelayConfigOptions config = KafkaConfig(db, slot);
  config.more["wal_guard"] = {
      {"warn_bytes", "1"}, {"max_bytes", "2"}, {"action", "alert"}, {"poll_interval_ms", "200"}};
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  const int port = StartRelay(relay);
  const std::string max_series = "outbox_relay_wal_guard_exceeded{level=\"max\"}";
  std::string body;
  for (const auto deadline = Clock::now() + 60s; Clock::now() < deadline && relay.Running();) {
    body = Scrape(port);
    if (MetricSample(body, max_series) == 1.0) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(MetricSample(body, max_series), 1.0) << body;
  EXPECT_EQ(MetricSample(body, "outbox_relay_wal_guard_exceeded{level=\"warn\"}"), 1.0) << body;
  std::cout << "[ info ] retained WAL " << MetricSample(body, "outbox_relay_slot_retained_wal_bytes").value_or(-1)
            << " bytes, over wal_guard.max_bytes 2\n";
  // Still streaming after more polls: the events written now are delivered.
  Publish(conn, "order", 3);
  body = WaitForMetricSum(port, "outbox_relay_events_published_total", 4, 60s);
  EXPECT_EQ(MetricSum(body, "outbox_relay_events_published_total"), 4.0) << body;
  EXPECT_TRUE(relay.Running()) << relay.StderrTail(10);
  EXPECT_NE(ReadFile(relay.StderrPath()).find("wal_guard.action: alert"), std::string::npos);
}

// With log.format json every line the relay writes to stderr during a short run (start, a few
// events, SIGTERM) is one JSON object with string fields time, level, logger and message.
TEST_F(OpsTest, JsonLogEveryLineParses) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ops_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config = KafkaConfig(db, slot);
  config.log_format = "json";
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  const int port = StartRelay(relay);
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s));
  PgConnection conn = db.Connect();
  Publish(conn, "order", 3);
  EXPECT_EQ(MetricSum(WaitForMetricSum(port, "outbox_relay_events_published_total", 3, 60s),
                      "outbox_relay_events_published_total"),
            3.0);
  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->exited && exit->code == 0) << exit->Describe();

  std::istringstream lines(ReadFile(relay.StderrPath()));
  std::string line;
  std::size_t parsed = 0;
  std::set<std::string> messages;
  while (std::getline(lines, line)) {
    if (line.rfind("===== test harness:", 0) == 0) continue;  // RelayProcess's own lines
    const auto json = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(json.is_object()) << "not a JSON object: " << line;
    for (const char* field : {"time", "level", "logger", "message"}) {
      ASSERT_TRUE(json.contains(field) && json[field].is_string()) << "no string " << field << ": " << line;
    }
    const std::string time = json["time"];
    EXPECT_TRUE(time.size() == 24 && time[10] == 'T' && time.back() == 'Z') << "time " << time;
    messages.insert(json["message"].get<std::string>());
    ++parsed;
  }
  std::cout << "[ info ] " << parsed << " JSON log lines\n";
  EXPECT_GE(parsed, 4u);
  auto logged = [&](const std::string& text) {
    for (const auto& message : messages) {
      if (message.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(logged("HTTP listening on")) << "the start was not logged";
  EXPECT_TRUE(logged("exiting with code 0")) << "the exit was not logged";
}

}  // namespace
}  // namespace outbox_relay::it
