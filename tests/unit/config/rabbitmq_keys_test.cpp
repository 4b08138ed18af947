// The rabbitmq.* keys (config/rabbitmq_keys.cpp) and the routes' exchange override.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using namespace outbox_relay::config::test_support;
using ::testing::HasSubstr;

INSTANTIATE_TEST_SUITE_P(
    RabbitMqKeys, BadValueTest,
    ::testing::Values(BadValue{"rabbitmq:\n  host: ''\n", "rabbitmq.host", "must not be empty"},
                      BadValue{"rabbitmq:\n  port: 70000\n", "rabbitmq.port", "at most 65535"},
                      BadValue{"rabbitmq:\n  port: five\n", "rabbitmq.port", "integer"},
                      BadValue{"rabbitmq:\n  vhost: ''\n", "rabbitmq.vhost", "must not be empty"},
                      BadValue{"rabbitmq:\n  exchange: 'events/{type}'\n", "rabbitmq.exchange", "is not allowed"},
                      BadValue{"rabbitmq:\n  exchange: 'events.{kind}'\n", "rabbitmq.exchange", "kind"},
                      BadValue{"rabbitmq:\n  dead_letter_exchange: " + std::string(256, 'd') + "\n",
                               "rabbitmq.dead_letter_exchange", "at most 255 bytes"},
                      BadValue{"rabbitmq:\n  tls: maybe\n", "rabbitmq.tls", "boolean"},
                      BadValue{"rabbitmq:\n  cert_file: /c.pem\n", "rabbitmq.cert_file", "go together"},
                      BadValue{"rabbitmq:\n  cert_file: /c.pem\n  key_file: /k.pem\n", "rabbitmq.cert_file",
                               "needs rabbitmq.tls: true"},
                      BadValue{"rabbitmq:\n  heartbeat_seconds: -1\n", "rabbitmq.heartbeat_seconds", "integer"},
                      BadValue{"rabbitmq:\n  connect_timeout_ms: 10\n", "rabbitmq.connect_timeout_ms",
                               "between 100"}));

TEST(RabbitMqKeysTest, DefaultsAndPortFollowTls) {
  const Config config = ParseConfig(WithDsn("sink:\n  type: rabbitmq\n"), {});
  EXPECT_EQ(config.sink.type, SinkType::kRabbitMq);
  EXPECT_EQ(config.rabbitmq.Port(), 5672u);
  EXPECT_EQ(EventExchange(config), "outbox");
  const Config tls = ParseConfig(WithDsn("sink:\n  type: rabbitmq\nrabbitmq:\n  tls: true\n"), {});
  EXPECT_EQ(tls.rabbitmq.Port(), 5671u);
  const Config kafka = ParseConfig(WithDsn("sink:\n  type: kafka\nkafka:\n  bootstrap.servers: k:9092\n"), {});
  EXPECT_EQ(EventExchange(kafka), "") << "events for Kafka carry no exchange";
}

TEST(RabbitMqKeysTest, PasswordIsASecretReadFromAFileAndNeverShown) {
  const Config config = ParseConfig(WithDsn("sink:\n  type: rabbitmq\nrabbitmq:\n  password_file: /run/pw\n"), {},
                                    [](const std::string&) { return std::string("s3cret\n"); });
  EXPECT_EQ(config.rabbitmq.password, "s3cret");
  EXPECT_TRUE(IsSecretKey("rabbitmq.password"));
  EXPECT_THAT(SecretValues(config), ::testing::Contains("s3cret"));
  const ConfigError error = ErrorFrom(WithDsn("sink:\n  type: rabbitmq\nrabbitmq:\n  password:\n    a: b\n"));
  EXPECT_EQ(error.key(), "rabbitmq.password");
}

TEST(RabbitMqKeysTest, ARouteMayOverrideTheExchangeOnlyForRabbitMq) {
  const std::string route = "outbox:\n  routes:\n    - aggregate_type: Order\n      exchange: 'orders.{type}'\n";
  const Config config = ParseConfig(WithDsn("sink:\n  type: rabbitmq\n" + route), {});
  ASSERT_EQ(config.outbox.routes.size(), 1u);
  EXPECT_EQ(config.outbox.routes[0].exchange, "orders.{type}");
  const ConfigError kafka =
      ErrorFrom(WithDsn("sink:\n  type: kafka\nkafka:\n  bootstrap.servers: k:9092\n" + route));
  EXPECT_EQ(kafka.key(), "outbox.routes[0].exchange");
  EXPECT_THAT(kafka.what(), HasSubstr("needs sink.type: rabbitmq"));
  const ConfigError bad = ErrorFrom(WithDsn(
      "sink:\n  type: rabbitmq\noutbox:\n  routes:\n    - aggregate_type: Order\n      exchange: 'a/b'\n"));
  EXPECT_EQ(bad.key(), "outbox.routes[0].exchange");
}

}  // namespace
}  // namespace outbox_relay::config
