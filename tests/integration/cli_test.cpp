// Acceptance tests of the relay's command line behaviour: config errors and the stdout sink.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "support/oracle.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

// A TCP listener on 127.0.0.1 that never accepts: a connection attempt by the relay stays in
// its backlog, so the test can tell whether anything tried to connect.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 16) != 0) {
      throw std::runtime_error("bind/listen failed");
    }
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  int Port() const { return port_; }
  /// True if someone connected (accepts and closes it).
  bool WasConnected() const {
    int client = ::accept(fd_, nullptr, nullptr);
    if (client < 0) return false;
    ::close(client);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::vector<std::string> NonEmptyLines(const std::string& text, bool skip_harness_markers) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (skip_harness_markers && line.rfind("===== test harness:", 0) == 0) continue;
    lines.push_back(line);
  }
  return lines;
}

// An unknown config key (source.dns) makes the relay exit 2 with one stderr line naming the key,
// before it connects to PostgreSQL or Kafka.
TEST_F(RelayIntegrationTest, UnknownConfigKeyExitsTwoNamingTheKeyBeforeConnecting) {
  SilentListener postgres;
  SilentListener kafka;
  const std::string dsn = "host=127.0.0.1 port=" + std::to_string(postgres.Port()) +
                          " dbname=postgres user=postgres connect_timeout=2";
  const std::string yaml =
      "source:\n"
      "  dsn: \"" + dsn + "\"\n"
      "  dns: \"" + dsn + "\"\n"
      "  slot: it_config_" + suffix_ + "\n"
      "  publication: outbox_relay\n"
      "outbox:\n"
      "  topic: \"it." + suffix_ + ".{aggregate_type}\"\n"
      "sink:\n"
      "  type: kafka\n"
      "kafka:\n"
      "  bootstrap.servers: \"127.0.0.1:" + std::to_string(kafka.Port()) + "\"\n"
      "log:\n"
      "  level: info\n";
  RelayProcess& relay = NewRelay(WriteConfig("bad.yaml", yaml), "relay");
  const auto start = std::chrono::steady_clock::now();
  relay.Start();
  const auto exit = relay.WaitFor(30s);
  ASSERT_TRUE(exit.has_value()) << "the relay is still running 30 s after start with a bad config";
  std::cout << "[ info ] relay ended after " << Seconds(std::chrono::steady_clock::now() - start)
            << ": " << exit->Describe() << "\n";
  EXPECT_TRUE(exit->exited && exit->code == 2) << exit->Describe();

  const auto lines = NonEmptyLines(ReadFile(relay.StderrPath()), true);
  std::cout << "[ info ] stderr:\n";
  for (const auto& line : lines) std::cout << "    " << line << "\n";
  EXPECT_EQ(lines.size(), 1u) << "expected exactly one stderr line";
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.front().find("source.dns"), std::string::npos)
      << "the error line does not name the key source.dns";
  EXPECT_FALSE(postgres.WasConnected()) << "the relay connected to PostgreSQL despite the error";
  EXPECT_FALSE(kafka.WasConnected()) << "the relay connected to Kafka despite the error";
}

// With sink.type stdout, each published row appears as one JSON line on stdout with the fields
// topic, key, headers and value; SIGTERM then ends the relay with exit code 0. The service-link
// variables Kubernetes injects for a Service named outbox-relay are ignored, with one debug line.
TEST_F(RelayIntegrationTest, StdoutSinkPrintsOneJsonLinePerEventAndExitsZeroOnSigterm) {
  TestDatabase& db = CreateDatabase();
  const std::string slot = "it_stdout_" + suffix_;
  db.DropSlotAtEnd(slot);
  RelayConfigOptions config;
  config.dsn = db.RelayDsn();
  config.slot = slot;
  config.topic = "it." + suffix_ + ".{aggregate_type}";
  config.sink = "stdout";
  RelayProcess& relay = NewRelay(WriteConfig("relay.yaml", RenderRelayConfig(config)), "relay");
  relay.SetEnvironment({{"OUTBOX_RELAY_LOG_LEVEL", "debug"},
                        {"OUTBOX_RELAY_PORT", "tcp://10.0.0.1:9742"},
                        {"OUTBOX_RELAY_SERVICE_HOST", "10.0.0.1"}});
  relay.Start();
  ASSERT_TRUE(db.WaitForSlot(slot, true, 60s))
      << "the relay did not create/activate slot " << slot << " within 60 s";

  struct Published {
    std::string id, aggregate_type, aggregate_id, type, payload;
  };
  std::vector<Published> published = {
      {"", "order", "o-1", "OrderPlaced", R"({"agg": "o-1", "seq": 1, "total": 9.5})"},
      {"", "order", "o-2", "OrderPlaced", R"({"agg": "o-2", "seq": 1, "lines": [1, 2]})"},
      {"", "customer", "c-1", "CustomerRenamed", R"({"agg": "c-1", "seq": 1, "name": "Zo\u00eb"})"},
  };
  PgConnection conn = db.Connect();
  auto publish = [&](Published& event) {
    event.id = conn.ExecParams("SELECT outbox.publish($1, $2, $3, $4::jsonb, $5::jsonb)::text",
                               {event.aggregate_type, event.aggregate_id, event.type,
                                event.payload, std::string(R"({"trace": "t-1"})")})
                   .Text(0, 0);
  };
  conn.Exec("BEGIN");
  publish(published[0]);
  publish(published[1]);
  conn.Exec("COMMIT");
  publish(published[2]);  // a transaction of its own

  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (NonEmptyLines(ReadFile(relay.StdoutPath()), false).size() < published.size() &&
         std::chrono::steady_clock::now() < deadline && relay.Running()) {
    std::this_thread::sleep_for(50ms);
  }
  const bool appeared_before_sigterm =
      NonEmptyLines(ReadFile(relay.StdoutPath()), false).size() >= published.size();
  relay.Signal(SIGTERM);
  const auto exit = relay.WaitFor(60s);
  ASSERT_TRUE(exit.has_value()) << "the relay did not exit within 60 s of SIGTERM";
  EXPECT_TRUE(exit->exited && exit->code == 0) << "after SIGTERM: " << exit->Describe();
  EXPECT_TRUE(appeared_before_sigterm)
      << "the 3 lines were not on stdout within 60 s of the commits (not flushed?)";

  std::size_t link_lines = 0;
  for (const auto& line : NonEmptyLines(ReadFile(relay.StderrPath()), false)) {
    if (line.find("ignored Kubernetes service-link variables (not configuration): OUTBOX_RELAY_PORT, "
                  "OUTBOX_RELAY_SERVICE_HOST") != std::string::npos) {
      ++link_lines;
    }
  }
  EXPECT_EQ(link_lines, 1u) << "one debug line names the ignored service links";

  const auto lines = NonEmptyLines(ReadFile(relay.StdoutPath()), false);
  std::cout << "[ info ] stdout:\n";
  for (const auto& line : lines) std::cout << "    " << line << "\n";
  ASSERT_EQ(lines.size(), published.size());
  std::set<std::string> seen_ids;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json line;
    ASSERT_NO_THROW(line = nlohmann::json::parse(lines[i])) << "not JSON: " << lines[i];
    ASSERT_TRUE(line.is_object()) << lines[i];
    for (const char* field : {"topic", "key", "headers", "value"}) {
      EXPECT_TRUE(line.contains(field)) << "line " << i << " has no field " << field;
    }
    // Lines come in commit order; the fields' content is checked leniently on shape.
    const Published& expected = published[i];
    EXPECT_EQ(line.value("topic", ""), TopicFor(config.topic, expected.aggregate_type));
    EXPECT_EQ(line.value("key", ""), expected.aggregate_id);
    if (line.contains("value")) {
      const auto& value = line["value"];
      const auto expected_value = nlohmann::json::parse(expected.payload);
      if (value.is_string()) {
        EXPECT_EQ(nlohmann::json::parse(value.get<std::string>()), expected_value) << lines[i];
      } else {
        EXPECT_EQ(value, expected_value) << lines[i];
      }
    }
    if (line.contains("headers")) {
      const auto& headers = line["headers"];
      std::string id;
      if (headers.is_object() && headers.contains("id") && headers["id"].is_string()) {
        id = headers["id"].get<std::string>();
      } else if (headers.is_array()) {
        for (const auto& header : headers) {
          if (header.is_object() && header.value("key", header.value("name", "")) == "id") {
            id = header.value("value", "");
          }
        }
      }
      EXPECT_EQ(id, expected.id) << "headers of line " << i << ": " << headers.dump();
      seen_ids.insert(id);
    }
  }
  EXPECT_EQ(seen_ids.size(), published.size());
}

}  // namespace
}  // namespace outbox_relay::it
