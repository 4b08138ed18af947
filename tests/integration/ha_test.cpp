// High availability: two relays on one slot (the slot is the lock), the active one SIGKILLed
// ten times while a writer commits; and a lost slot, which the relay refuses to re-create by
// itself once outbox.relay_slots remembers it.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <csignal>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>

#include "support/crash_loop.hpp"
#include "support/http_client.hpp"
#include "support/kafka_reader.hpp"
#include "support/oracle.hpp"
#include "support/scenario.hpp"
#include "support/test_fixture.hpp"
#include "support/workload.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kTakeoverSeconds = 4;

// Which of the two relays holds the slot (application_name of its walsender), sampled over time.
class SlotHolderWatch {
 public:
  SlotHolderWatch(const TestDatabase& db, std::string slot, std::array<std::string, 2> names)
      : conn_(db.Connect()), slot_(std::move(slot)), names_(std::move(names)) {}

  /// Samples once; returns the holder's index or -1 when the slot is not active.
  int Sample() {
    const auto rows = conn_.ExecParams(
        "SELECT (SELECT a.application_name FROM pg_replication_slots s"
        "        JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = $1),"
        "       (SELECT count(*) FROM pg_stat_replication"
        "        WHERE application_name IN ($2, $3) AND state IN ('catchup', 'streaming'))",
        {slot_, names_[0], names_[1]});
    const PgValue& name = rows.At(0, 0);
    int holder = -1;
    for (int i = 0; i < 2; ++i) {
      if (name && *name == names_[static_cast<std::size_t>(i)]) holder = i;
    }
    max_streaming_ = std::max(max_streaming_, std::stoi(rows.Text(0, 1)));
    if (holder != last_) {
      changes_.push_back("+" + Seconds(Clock::now() - start_) + " " +
                         (holder >= 0 ? names_[static_cast<std::size_t>(holder)] : "none"));
    }
    last_ = holder;
    return holder;
  }

  int MaxStreaming() const { return max_streaming_; }
  std::string Changes() const {
    std::string text;
    for (const auto& change : changes_) text += (text.empty() ? "" : ", ") + change;
    return text;
  }

 private:
  PgConnection conn_;
  std::string slot_;
  std::array<std::string, 2> names_;
  const Clock::time_point start_ = Clock::now();
  std::vector<std::string> changes_;
  int last_ = -2;
  int max_streaming_ = 0;
};

class HaTest : public RelayIntegrationTest {
 protected:
  static double Published(int port) {
    const HttpResult result = HttpGet(kLoopback, port, "/metrics");
    if (result.status != 200) throw std::runtime_error("/metrics answered " + std::to_string(result.status));
    return MetricSum(result.body, "outbox_relay_events_published_total").value_or(0);
  }

  // The role /status gives ("active", "standby", "connecting") and whether /readyz answers 200.
  struct Sample {
    std::string role;
    bool ready = false;
  };
  static Sample Probe(int port) {
    const auto status = nlohmann::json::parse(HttpGet(kLoopback, port, "/status").body);
    return {status.at("role").get<std::string>(), HttpGet(kLoopback, port, "/readyz").status == 200};
  }
};

// Two exactly-once relays on one slot with ha.takeover_seconds 4. Ten times, the relay holding
// the slot is SIGKILLed mid-stream and started again: the other one takes over within the
// takeover time, and until then it is a standby (/status) that has published nothing; both
// answer /readyz 200 throughout, except a restarted relay until it first stood by (what a
// Deployment with replicas: 2 and the chart's readiness probe needs to be healthy); at no sample
// do two walsenders stream. A read_committed consumer sees every committed event exactly once,
// in per-aggregate order.
TEST_F(HaTest, TenSigkillsOfTheActiveRelayHandTheSlotOverExactlyOnce) {
  const auto test_start = Clock::now();
  const HarnessEnv& harness = Harness();
  TestDatabase& db = CreateDatabase();
  WorkloadOptions workload = WorkloadOptions::Sized(6000, 600, 6, 300);  // 18,000 events, ~60 s
  workload.seed = std::random_device{}();
  const KafkaScenario scenario = KafkaScenario::Make(suffix_, workload);
  scenario.DropSlotsAtEnd(db);
  {
    PgConnection conn = db.Connect();
    CreateOtherTable(conn);
    CreateOracleSlot(conn, scenario.oracle_slot);  // before any event is written
  }
  const std::array<std::string, 2> names = {"it_relay_a", "it_relay_b"};
  std::array<RelayProcess*, 2> relays{};
  for (std::size_t i = 0; i < 2; ++i) {
    RelayConfigOptions config = scenario.RelayConfig(db, harness, Delivery::kExactlyOnce);
    config.dsn += " application_name=" + names[i];  // tells the two walsenders apart
    config.more["ha"]["takeover_seconds"] = std::to_string(kTakeoverSeconds);
    relays[i] = &NewRelay(WriteConfig(names[i] + ".yaml", RenderRelayConfig(config)), names[i]);
  }
  std::cout << "[ info ] seed " << workload.seed << ", slot " << scenario.slot << ", topics "
            << scenario.topic_template << ", ha.takeover_seconds " << kTakeoverSeconds << "\n";

  KafkaReader reader(harness.kafka_bootstrap_servers, scenario.topics);
  std::array<int, 2> ports{};
  for (std::size_t i = 0; i < 2; ++i) {
    relays[i]->Start();
    ports[i] = WaitForHttpPort(*relays[i], 60s);
  }
  SlotHolderWatch watch(db, scenario.slot, names);
  int holder = -1;
  for (const auto deadline = Clock::now() + 60s; (holder = watch.Sample()) < 0;) {
    ASSERT_LT(Clock::now(), deadline) << "neither relay holds the slot after 60 s";
    std::this_thread::sleep_for(50ms);
  }
  BackgroundWriter writer(db.Connect(), workload);

  constexpr int kKills = 10;
  std::vector<double> takeovers;
  int readiness_samples = 0;
  std::array<bool, 2> started_up{};
  for (int kill = 0; kill < kKills; ++kill) {
    const auto active = static_cast<std::size_t>(holder);
    const std::size_t standby = 1 - active;
    // Let the active relay deliver for a while (spread the kills over the workload), sampling
    // both relays' readiness. A relay's start-up ends when it first answers ready in its role.
    const auto sample = [&](std::size_t relay, const char* role) {
      const Sample got = Probe(ports[relay]);
      const bool as_expected = got.role == role && got.ready;
      if (started_up[relay]) {
        EXPECT_TRUE(as_expected) << "kill " << kill << ": " << names[relay] << " should be a ready " << role
                                 << ", is " << got.role << (got.ready ? ", ready" : ", not ready");
      }
      started_up[relay] = started_up[relay] || as_expected;
      ++readiness_samples;
    };
    const int until = writer.Committed() + workload.TotalEvents() / (kKills + 2);
    for (const auto deadline = Clock::now() + 60s; writer.Committed() < until && !writer.Done();) {
      ASSERT_EQ(watch.Sample(), holder) << "the slot changed hands without a kill: " << watch.Changes();
      ASSERT_LT(Clock::now(), deadline) << "the writer stalled";
      sample(active, "active");
      sample(standby, "standby");
      std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(relays[standby]->Running()) << names[standby] << " exited: " << relays[standby]->StderrTail(10);
    // A standby that can take over before the kill (its sink reports a connection within about 5 s).
    for (const auto deadline = Clock::now() + 30s; !started_up[standby]; std::this_thread::sleep_for(100ms)) {
      ASSERT_LT(Clock::now(), deadline) << "kill " << kill << ": " << names[standby] << " is no ready standby";
      sample(standby, "standby");
    }
    EXPECT_EQ(Published(ports[standby]), 0.0)
        << "kill " << kill << ": " << names[standby] << " published while " << names[active] << " held the slot";

    const auto kill_sent = Clock::now();
    relays[active]->Kill();
    while ((holder = watch.Sample()) != static_cast<int>(standby)) {
      ASSERT_TRUE(relays[standby]->Running())
          << names[standby] << " exited instead of taking over: " << relays[standby]->StderrTail(10);
      ASSERT_LT(Clock::now(), kill_sent + 60s) << names[standby] << " did not take over within 60 s";
      std::this_thread::sleep_for(50ms);
    }
    takeovers.push_back(std::chrono::duration<double>(Clock::now() - kill_sent).count());
    // The killed relay comes back as the new standby.
    started_up[active] = false;
    relays[active]->Start();
    ports[active] = WaitForHttpPort(*relays[active], 60s);
  }
  ASSERT_TRUE(writer.WaitFor(300s)) << "the writer did not finish";
  ASSERT_TRUE(writer.Error().empty()) << "writer failed: " << writer.Error();
  const WorkloadResult& written = writer.Result();

  PgConnection conn = db.Connect();
  const std::vector<LedgerEvent> ledger = ReadLedger(conn);
  ASSERT_EQ(ledger.size(), written.committed_ids.size());
  const CommitOracle oracle = ReadCommitOracle(conn, scenario.oracle_slot);
  ASSERT_TRUE(oracle.anomalies.empty()) << oracle.anomalies.front();
  std::unordered_set<std::string> wanted;
  for (const auto& event : ledger) wanted.insert(event.id);
  const auto survivor = static_cast<std::size_t>(holder);
  const std::size_t delivered = WaitForDelivery(reader, wanted, 240s, [&] { return relays[survivor]->Running(); });
  for (RelayProcess* relay : relays) relay->Signal(SIGTERM);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto exit = relays[i]->WaitFor(60s);
    ASSERT_TRUE(exit.has_value()) << names[i] << " did not exit within 60 s of SIGTERM";
    EXPECT_TRUE(exit->exited && exit->code == 0) << names[i] << " after SIGTERM: " << exit->Describe();
  }
  reader.CatchUp(120s);
  AnalysisOptions analysis;
  analysis.topic_template = scenario.topic_template;
  analysis.oracle = &oracle;
  analysis.rolled_back_ids.insert(written.rolled_back_ids.begin(), written.rolled_back_ids.end());
  const DeliveryReport report = Analyze(ledger, reader.Records(), analysis);

  std::ostringstream times;
  for (const double seconds : takeovers) times << (times.tellp() > 0 ? " " : "") << seconds;
  std::cout << "[ measured ] takeover seconds after each SIGKILL: " << times.str() << " (max "
            << *std::max_element(takeovers.begin(), takeovers.end()) << ")\n"
            << "[ oracle ] " << report.Summary() << "\n"
            << "fault=standby-takeover mode=exactly-once cycles=" << takeovers.size()
            << " events=" << ledger.size() << " delivered=" << delivered << " lost=" << report.lost
            << " duplicated=" << report.duplicated << " reordered=" << report.reordered
            << " max_streaming=" << watch.MaxStreaming() << " readiness_samples=" << readiness_samples
            << " seconds=" << Seconds(Clock::now() - test_start) << "\n";
  EXPECT_EQ(takeovers.size(), static_cast<std::size_t>(kKills));
  for (const double seconds : takeovers) {
    // The standby retries every 1-2 s; the rest is connecting and claiming the transactional id.
    EXPECT_LE(seconds, kTakeoverSeconds) << "a takeover took longer than ha.takeover_seconds";
  }
  EXPECT_LE(watch.MaxStreaming(), 1) << "both relays streamed at once";
  ExpectNothingLostOrReordered(report);
  EXPECT_EQ(report.duplicated, 0u);
  ExpectCheckpointCovers(scenario, oracle, harness.kafka_bootstrap_servers);
}

// A relay records its slot in outbox.relay_slots. When the slot is then dropped (what a
// PostgreSQL failover without failover slots amounts to), the relay exits 1 instead of creating
// a new one, `check` and plain `init` fail naming the slot, and only `init --recreate-slot`
// creates it again and says what to republish; the relay then streams what comes next.
TEST_F(HaTest, LostSlotIsNotRecreatedSilentlyOnlyByInitRecreateSlot) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_ha_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config;
  config.dsn = db.RelayDsn();
  config.slot = slot;
  config.topic = "it." + suffix_ + ".{aggregate_type}";
  config.bootstrap_servers = Harness().kafka_bootstrap_servers;
  const std::string config_path = WriteConfig("relay.yaml", RenderRelayConfig(config));
  PgConnection conn = db.Connect();
  auto publish = [&](const std::string& aggregate_id) {
    conn.ExecParams("SELECT outbox.publish('order', $1, 'Created', '{}'::jsonb)", {aggregate_id});
  };
  KafkaReader reader(Harness().kafka_bootstrap_servers, {"it." + suffix_ + ".order"});
  auto arrived = [&](const std::string& aggregate_id) {
    for (const auto deadline = Clock::now() + 60s; Clock::now() < deadline;) {
      reader.CatchUp(30s);
      for (const auto& record : reader.Records()) {
        if (record.key == aggregate_id) return true;
      }
      std::this_thread::sleep_for(200ms);
    }
    return false;
  };

  RelayProcess& first = NewRelay(config_path, "first");
  first.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << first.StderrTail(10);
  publish("before-loss");
  ASSERT_TRUE(arrived("before-loss")) << first.StderrTail(10);
  first.Signal(SIGTERM);
  ASSERT_TRUE(first.WaitFor(60s).has_value());
  const PgResult recorded =
      conn.ExecParams("SELECT created_lsn::text FROM outbox.relay_slots WHERE slot_name = $1", {slot});
  ASSERT_EQ(recorded.Size(), 1u) << "the relay did not record its slot in outbox.relay_slots";

  db.DropSlot(slot, 30s);
  publish("during-loss");

  RelayProcess& refused = NewRelay(config_path, "refused");
  refused.Start();
  const auto exit = refused.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay kept running without its slot: " << refused.StderrTail(10);
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->Describe();
  const std::string refused_log = ReadFile(refused.StderrPath());
  std::cout << "[ info ] relay without its slot: " << refused.StderrTail(1);
  EXPECT_NE(refused_log.find("outbox.relay_slots"), std::string::npos) << refused_log;
  EXPECT_NE(refused_log.find("init --recreate-slot"), std::string::npos) << refused_log;
  EXPECT_FALSE(db.Slot(slot).has_value()) << "the relay created a new slot by itself";

  RelayProcess& check = NewRelayCommand({"check", "--config", config_path}, "check");
  check.Start();
  const auto check_exit = check.WaitFor(60s);
  ASSERT_TRUE(check_exit.has_value());
  EXPECT_EQ(check_exit->code, 1) << ReadFile(check.StdoutPath());
  EXPECT_NE(ReadFile(check.StdoutPath()).find("is gone"), std::string::npos) << ReadFile(check.StdoutPath());

  RelayProcess& init = NewRelayCommand({"init", "--config", config_path}, "init");
  init.Start();
  const auto init_exit = init.WaitFor(60s);
  ASSERT_TRUE(init_exit.has_value());
  EXPECT_EQ(init_exit->code, 1) << ReadFile(init.StdoutPath());
  EXPECT_FALSE(db.Slot(slot).has_value()) << "plain init re-created the lost slot";

  RelayProcess& recreate = NewRelayCommand({"init", "--config", config_path, "--recreate-slot"}, "recreate");
  recreate.Start();
  const auto recreate_exit = recreate.WaitFor(120s);
  ASSERT_TRUE(recreate_exit.has_value());
  const std::string recreate_out = ReadFile(recreate.StdoutPath());
  std::cout << "[ info ] init --recreate-slot:\n" << recreate_out;
  EXPECT_EQ(recreate_exit->code, 0) << recreate_out << ReadFile(recreate.StderrPath());
  EXPECT_NE(recreate_out.find("created slot " + slot), std::string::npos) << recreate_out;
  EXPECT_NE(recreate_out.find("outbox-relay replay"), std::string::npos) << recreate_out;
  ASSERT_TRUE(db.Slot(slot).has_value());

  RelayProcess& after = NewRelay(config_path, "after");
  after.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << after.StderrTail(10);
  publish("after-recreate");
  EXPECT_TRUE(arrived("after-recreate"))
      << "the relay did not stream on the re-created slot: " << after.StderrTail(10);
  for (const auto& record : reader.Records()) {
    EXPECT_NE(record.key.value_or(""), "during-loss")
        << "an event of the gap arrived: the new slot started before it";
  }
}

}  // namespace
}  // namespace outbox_relay::it
