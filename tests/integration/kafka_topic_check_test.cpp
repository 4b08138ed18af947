// `outbox-relay check`'s topic lines against the real brokers: existence and partition count,
// auto-creation, and whether the relay's principal may write (ACLs on the SCRAM broker, whose
// authorizer lets PLAINTEXT clients, User:ANONYMOUS, add ACLs). The check must write no record
// and create no topic: the tests compare end offsets and topic lists before and after. A fault
// broker of its own (tests/harness/fault_broker.sh) has auto.create.topics.enable=false.

#include <librdkafka/rdkafka.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/fault_broker.hpp"
#include "support/kafka_admin.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kHintIndent = "     hint: ";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool StartsWith(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

class KafkaTopicCheckTest : public RelayIntegrationTest {
 protected:
  struct CheckResult {
    ExitStatus exit;
    std::vector<std::string> out;
    std::string all;  // stdout then stderr
  };

  /// Runs `outbox-relay check --config <path>` to its end (at most 60 s).
  CheckResult RunCheck(const std::string& path) {
    RelayProcess& command = NewRelayCommand({"check", "--config", path}, "check");
    command.Start();
    const auto exit = command.WaitFor(60s);
    if (!exit) {
      command.Kill();
      throw std::runtime_error("outbox-relay check still runs after 60 s");
    }
    const std::string out = ReadFile(command.StdoutPath());
    CheckResult result{*exit, Lines(out), out + ReadFile(command.StderrPath())};
    std::cout << "[ info ] check: " << exit->Describe() << "\n" << result.all;
    return result;
  }

  /// The line that starts with `prefix`, or nullopt; `hint` gets the line after it.
  static std::optional<std::string> Line(const CheckResult& result, const std::string& prefix,
                                         std::string* hint = nullptr) {
    for (std::size_t i = 0; i < result.out.size(); ++i) {
      if (!StartsWith(result.out[i], prefix)) continue;
      if (hint) *hint = i + 1 < result.out.size() ? result.out[i + 1] : "";
      return result.out[i];
    }
    return std::nullopt;
  }

  std::string Name(const std::string& stem) const { return "it.topics." + suffix_ + "." + stem; }

  /// The config of these tests: the test database, `outbox` (the outbox section's body,
  /// indented by two), `kafka` (the kafka section's body) and `more` top-level sections.
  std::string Config(const std::string& outbox, const std::string& kafka, const std::string& more) {
    return "source:\n  dsn: \"" + db_->RelayDsn() + "\"\n  slot: it_topics_" + suffix_ +
           "\n  publication: outbox_relay\noutbox:\n" + outbox + "sink:\n  type: kafka\nkafka:\n" + kafka + more +
           "http:\n  listen: \"127.0.0.1:0\"\nlog:\n  level: info\n";
  }
};

// On the SCRAM broker (Kafka 3.9, authorizer on), as the SCRAM user over SASL_SSL: a topic it
// may write is ok with its partition count; a topic whose ACLs allow only someone else is a
// FAIL (no Describe) with the kafka-acls hint; a topic it may describe but not write is a FAIL
// found by the produce probe; a missing topic is ok because the broker auto-creates; a missing
// checkpoint topic is ok because the relay creates it. Nothing is written or created.
TEST_F(KafkaTopicCheckTest, ScramUserGetsOneLinePerTopicWithAclHints) {
  CreateDatabase();
  const std::string admin_servers = Harness().Get("SCRAM_KAFKA_BOOTSTRAP_SERVERS");
  const std::string sasl_servers = Harness().Get("KAFKA_SASL_SSL_BOOTSTRAP_SERVERS");
  const std::string user = Harness().Get("KAFKA_SCRAM_USER");
  const std::string password = Harness().Get("KAFKA_SCRAM_PASSWORD");
  const std::string writable = Name("writable");
  const std::string denied = Name("denied");
  const std::string describe_only = Name("describe-only");
  const std::string missing = Name("missing");
  const std::string dead_letter = Name("dlq");
  const std::string checkpoints = Name("checkpoints");

  KafkaAdmin admin({{"bootstrap.servers", admin_servers}});
  admin.CreateTopic(writable, 4);
  admin.CreateTopic(denied, 2);
  admin.CreateTopic(describe_only, 1);
  admin.CreateTopic(dead_letter, 1);
  admin.ProduceOneEach(writable, 4);
  admin.ProduceOneEach(dead_letter, 1);
  // Once a topic has ACLs, only the principals they allow may use it.
  admin.Allow("User:it-someone-else-" + suffix_, RD_KAFKA_ACL_OPERATION_WRITE, denied);
  admin.Allow("User:" + user, RD_KAFKA_ACL_OPERATION_DESCRIBE, describe_only);

  const std::string password_file = temp_->File("kafka.password");
  std::ofstream(password_file) << password << "\n";
  const std::map<std::string, std::string> scram = {
      {"bootstrap.servers", sasl_servers},     {"security.protocol", "SASL_SSL"},
      {"sasl.mechanism", Harness().Get("KAFKA_SASL_MECHANISM")}, {"sasl.username", user},
      {"sasl.password", password},             {"ssl.ca.location", Harness().Get("HARNESS_CA_FILE")}};
  KafkaAdmin as_user(scram);
  // The ACLs are in force once the broker's authorizer has them.
  ASSERT_TRUE(as_user.WaitForTopic(denied, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 30s));
  ASSERT_TRUE(as_user.WaitForTopic(describe_only, RD_KAFKA_RESP_ERR_NO_ERROR, 30s));

  const auto writable_before = admin.EndOffsets(writable, 4);
  const auto describe_only_before = admin.EndOffsets(describe_only, 1);
  const auto dead_letter_before = admin.EndOffsets(dead_letter, 1);

  const std::string outbox = "  topic: \"" + writable + "\"\n  routes:\n    - aggregate_type: a\n      topic: " + denied +
                             "\n    - aggregate_type: b\n      topic: " + describe_only +
                             "\n    - aggregate_type: c\n      topic: " + missing +
                             "\n    - aggregate_type: d\n      topic: \"it.topics." + suffix_ + ".{type}\"\n";
  const std::string kafka = "  bootstrap.servers: \"" + sasl_servers +
                            "\"\n  security.protocol: SASL_SSL\n  sasl.mechanism: " + Harness().Get("KAFKA_SASL_MECHANISM") +
                            "\n  sasl.username: " + user + "\n  sasl.password_file: \"" + password_file +
                            "\"\n  ssl.ca.location: \"" + Harness().Get("HARNESS_CA_FILE") + "\"\n";
  const std::string more = "delivery: exactly-once\nexactly_once:\n  checkpoint_topic: " + checkpoints +
                           "\non_poison: dead-letter\ndead_letter:\n  topic: " + dead_letter + "\n";
  const CheckResult result = RunCheck(WriteConfig("relay.yaml", Config(outbox, kafka, more)));

  EXPECT_TRUE(result.exit.exited && result.exit.code == 1) << result.exit.Describe();
  EXPECT_TRUE(Line(result, "ok   kafka " + sasl_servers + ": 1 broker(s)"));
  EXPECT_EQ(Line(result, "ok   kafka topic " + writable),
            "ok   kafka topic " + writable + " (outbox.topic): exists, 4 partitions; the relay may write to it");
  EXPECT_EQ(Line(result, "ok   kafka topic " + dead_letter),
            "ok   kafka topic " + dead_letter + " (dead_letter.topic): exists, 1 partition; the relay may write to it");
  const auto checkpoint_line = Line(result, "ok   kafka topic " + checkpoints + " (exactly_once.checkpoint_topic): ");
  ASSERT_TRUE(checkpoint_line) << "no ok line for the checkpoint topic";
  EXPECT_NE(checkpoint_line->find("missing; the relay creates it at start"), std::string::npos) << *checkpoint_line;
  const auto missing_line = Line(result, "ok   kafka topic " + missing + " (outbox.routes[2].topic): ");
  ASSERT_TRUE(missing_line) << "no ok line for the missing topic";
  EXPECT_NE(missing_line->find("missing; the broker creates it on the first write (auto.create.topics.enable=true)"),
            std::string::npos)
      << *missing_line;

  const std::string acl_hint = std::string(kHintIndent) +
                               "let the relay's principal describe and write it: kafka-acls --bootstrap-server " +
                               sasl_servers + " --add --allow-principal User:" + user +
                               " --operation Write --operation Describe --topic ";
  std::string hint;
  EXPECT_EQ(Line(result, "FAIL kafka topic " + denied, &hint),
            "FAIL kafka topic " + denied +
                " (outbox.routes[0].topic): the relay may not describe it (Broker: Topic authorization failed)");
  EXPECT_EQ(hint, acl_hint + denied);
  EXPECT_EQ(Line(result, "FAIL kafka topic " + describe_only, &hint),
            "FAIL kafka topic " + describe_only +
                " (outbox.routes[1].topic): exists, 1 partition, but the relay may not write to it (Broker: Topic "
                "authorization failed)");
  EXPECT_EQ(hint, acl_hint + describe_only);

  std::size_t failures = 0;
  std::size_t topic_lines = 0;
  for (const auto& line : result.out) {
    failures += StartsWith(line, "FAIL ") ? 1 : 0;
    topic_lines += line.find(" kafka topic ") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(failures, 2u) << "only the two topics the SCRAM user may not write should fail";
  EXPECT_EQ(topic_lines, 6u) << "one line per literal topic, none for the {type} route";
  EXPECT_EQ(result.all.find(password), std::string::npos) << "the SCRAM password is printed";

  // Nothing written, nothing created.
  EXPECT_EQ(admin.EndOffsets(writable, 4), writable_before);
  EXPECT_EQ(admin.EndOffsets(describe_only, 1), describe_only_before);
  EXPECT_EQ(admin.EndOffsets(dead_letter, 1), dead_letter_before);
  const auto topics = admin.Topics();
  EXPECT_EQ(topics.count(missing), 0u) << "check created " << missing;
  EXPECT_EQ(topics.count(checkpoints), 0u) << "check created " << checkpoints;
}

// On the main broker (Kafka 4.1, no authorizer, PLAINTEXT): the produce probe proves write
// permission without appending a record, a missing topic is ok (auto-create on) and is not
// created by the check, and with every topic fine the exit code is 0.
TEST_F(KafkaTopicCheckTest, MainBrokerProbeWritesNothingAndCreatesNothing) {
  CreateDatabase();
  const std::string servers = Harness().kafka_bootstrap_servers;
  const std::string writable = Name("writable");
  const std::string missing = Name("missing");
  KafkaAdmin admin({{"bootstrap.servers", servers}});
  admin.CreateTopic(writable, 3);
  admin.ProduceOneEach(writable, 3);
  const auto before = admin.EndOffsets(writable, 3);

  const std::string outbox = "  topic: \"" + writable + "\"\n  routes:\n    - aggregate_type: a\n      topic: " + missing + "\n";
  const CheckResult result =
      RunCheck(WriteConfig("relay.yaml", Config(outbox, "  bootstrap.servers: \"" + servers + "\"\n", "")));

  EXPECT_TRUE(result.exit.exited && result.exit.code == 0) << result.exit.Describe();
  EXPECT_EQ(Line(result, "ok   kafka topic " + writable),
            "ok   kafka topic " + writable + " (outbox.topic): exists, 3 partitions; the relay may write to it");
  const auto missing_line = Line(result, "ok   kafka topic " + missing + " (outbox.routes[0].topic): ");
  ASSERT_TRUE(missing_line) << "no ok line for the missing topic";
  EXPECT_NE(missing_line->find("auto.create.topics.enable=true"), std::string::npos) << *missing_line;

  EXPECT_EQ(admin.EndOffsets(writable, 3), before) << "the probe appended a record";
  EXPECT_EQ(admin.Topics().count(missing), 0u) << "check created " << missing;
}

// A broker that does not auto-create topics (a fault broker of this test, Kafka 4.1): a missing
// routing topic is a FAIL with the kafka-topics hint (partitions, max.message.bytes); a missing
// checkpoint topic is still ok, the relay creates it. Neither is created by the check.
TEST_F(KafkaTopicCheckTest, MissingTopicFailsWhenTheBrokerDoesNotAutoCreate) {
  CreateDatabase();
  FaultBroker broker(temp_->File("fault-broker"), temp_->Path(), "", {"auto.create.topics.enable=false"});
  const std::string& servers = broker.BootstrapServers();
  const std::string missing = Name("missing");
  const std::string checkpoints = Name("checkpoints");

  const std::string more = "delivery: exactly-once\nexactly_once:\n  checkpoint_topic: " + checkpoints + "\n";
  const CheckResult result = RunCheck(WriteConfig(
      "relay.yaml", Config("  topic: \"" + missing + "\"\n", "  bootstrap.servers: \"" + servers + "\"\n", more)));

  EXPECT_TRUE(result.exit.exited && result.exit.code == 1) << result.exit.Describe();
  std::string hint;
  EXPECT_EQ(Line(result, "FAIL kafka topic " + missing, &hint),
            "FAIL kafka topic " + missing +
                " (outbox.topic): missing, and the broker does not create topics on first use "
                "(auto.create.topics.enable=false)");
  EXPECT_TRUE(StartsWith(hint, std::string(kHintIndent) + "create it: kafka-topics --bootstrap-server " + servers +
                                   " --create --topic " + missing +
                                   " --partitions <N> --config max.message.bytes=<bytes>"))
      << hint;
  EXPECT_TRUE(Line(result, "ok   kafka topic " + checkpoints + " (exactly_once.checkpoint_topic): missing; the relay "
                           "creates it at start"));

  const auto topics = KafkaAdmin({{"bootstrap.servers", servers}}).Topics();
  EXPECT_EQ(topics.count(missing), 0u) << "check created " << missing;
  EXPECT_EQ(topics.count(checkpoints), 0u) << "check created " << checkpoints;
}

}  // namespace
}  // namespace outbox_relay::it
