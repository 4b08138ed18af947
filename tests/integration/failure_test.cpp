// Acceptance tests of the relay's failure behaviour against the real PostgreSQL: an event Kafka
// does not acknowledge is sent again and never confirmed, and the in-flight cap bounds what is
// read ahead.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "support/http_client.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// Outbox inserts still held by the slot, i.e. not confirmed (read while no relay holds it).
long UnconfirmedOutboxInserts(PgConnection& conn, const std::string& slot) {
  return std::stol(conn.ExecParams("SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, "
                                   "'proto_version', '1', 'publication_names', 'outbox_relay') "
                                   "WHERE get_byte(data, 0) = ascii('I')",
                                   {slot})
                       .Text(0, 0));
}

long ResidentKilobytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class RelayFailureTest : public RelayIntegrationTest {
 protected:
  RelayConfigOptions DeadBrokerConfig(TestDatabase& db, const std::string& slot) {
    RelayConfigOptions config;
    config.dsn = db.RelayDsn();
    config.slot = slot;
    config.topic = "it." + suffix_ + ".{aggregate_type}";
    config.bootstrap_servers = "127.0.0.1:" + std::to_string(UnusedLoopbackPort());
    return config;
  }
};

// When Kafka does not acknowledge an event within kafka.message.timeout.ms, the relay neither
// skips it nor gives up: it stays up, counts a delivery error, sends the event again, and keeps
// its transaction unconfirmed in the slot for as long as Kafka stays away.
TEST_F(RelayFailureTest, UnacknowledgedEventIsSentAgainAndNeverConfirmed) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_fail_" + suffix_;
  db.DropSlotAtEnd(slot);
  auto config = DeadBrokerConfig(db, slot);
  config.kafka_properties["message.timeout.ms"] = "2000";
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  relay.Start();
  const int port = WaitForHttpPort(relay, 30s);
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << "the relay did not activate slot " << slot;

  PgConnection conn = db.Connect();
  conn.Exec("SELECT outbox.publish('order', 'o-1', 'OrderPlaced', '{\"seq\": 1}')");

  // Each attempt waits 2 s for Kafka (librdkafka looks for timed-out events once a second),
  // then the relay reconnects and sends the event again.
  const std::string series = "outbox_relay_delivery_errors_total{kind=\"delivery\"}";
  double errors = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (errors < 3 && relay.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(500ms);
    errors = MetricSample(HttpGet(kLoopback, port, "/metrics").body, series).value_or(0);
  }
  ASSERT_TRUE(relay.Running()) << "the relay exited: " << relay.LastExit().value_or(ExitStatus{}).Describe();
  EXPECT_GE(errors, 3) << "the event was not sent again three times within 60 s";
  const std::string stderr_text = ReadFile(relay.StderrPath());
  EXPECT_NE(stderr_text.find("the broker did not acknowledge an event"), std::string::npos) << stderr_text;

  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not stop within 60 s of SIGTERM";
  ASSERT_TRUE(db.WaitForSlot(slot, false, 30s)) << "the slot stayed active after the relay stopped";
  EXPECT_EQ(UnconfirmedOutboxInserts(conn, slot), 1)
      << "the unacknowledged event's transaction was confirmed to PostgreSQL";
}

// With Kafka down and flow.max_in_flight_events 1000, a 120,000-row transaction is not read
// ahead: the relay keeps running (librdkafka's 100,000-message queue never overflows) with
// bounded memory, and confirms none of it.
TEST_F(RelayFailureTest, InFlightCapStopsReadingWhileKafkaIsDown) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_cap_" + suffix_;
  db.DropSlotAtEnd(slot);
  auto config = DeadBrokerConfig(db, slot);
  config.max_in_flight_events = 1000;
  config.kafka_properties["message.timeout.ms"] = "300000";
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s)) << "the relay did not activate slot " << slot;

  constexpr long kRows = 120000;
  PgConnection conn = db.Connect();
  conn.Exec(
      "SELECT count(outbox.publish('order', 'o-' || (i % 100), 'OrderPlaced', "
      "jsonb_build_object('seq', i, 'pad', repeat('x', 1000)))) FROM generate_series(1, " +
      std::to_string(kRows) + ") i");
  // Give the walsender time to push what the socket takes; without the cap the relay would
  // read all of it and either exceed librdkafka's queue (exit 1) or hold ~120 MB.
  std::this_thread::sleep_for(8s);
  ASSERT_TRUE(relay.Running()) << "the relay died: " << relay.StderrTail(5);
  const long rss_kb = ResidentKilobytes(relay.Pid());
  std::cout << "[ info ] relay RSS with " << kRows << " rows (~" << kRows / 1000
            << " MB) pending and the cap at 1000 events: " << rss_kb / 1024 << " MiB\n";
  EXPECT_GT(rss_kb, 0);
  EXPECT_LT(rss_kb, 64 * 1024) << "memory is not bounded by the in-flight cap";

  relay.Kill();
  ASSERT_TRUE(db.WaitForSlot(slot, false, 30s));
  EXPECT_EQ(UnconfirmedOutboxInserts(conn, slot), kRows) << "rows were confirmed without delivery";
}

}  // namespace
}  // namespace outbox_relay::it
