// Kubernetes service links (config/service_links.cpp): recognised by name and value, ignored and
// listed; anything near them stays an error.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "tests/unit/config/config_test_support.hpp"

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;

using namespace outbox_relay::config::test_support;

// A Service named outbox-relay (or outbox-relay-<x>) makes Kubernetes inject these into every
// pod of the namespace; they are recognised by name and value, ignored and listed.
TEST(ServiceLinksTest, IgnoresKubernetesServiceLinks) {
  const Environment links = {
      {"OUTBOX_RELAY_SERVICE_HOST", "10.0.0.1"},
      {"OUTBOX_RELAY_SERVICE_PORT", "9742"},
      {"OUTBOX_RELAY_SERVICE_PORT_HTTP", "9742"},
      {"OUTBOX_RELAY_SERVICE_PORT_HTTP_METRICS", "9742"},
      {"OUTBOX_RELAY_PORT", "tcp://10.0.0.1:8080"},
      {"OUTBOX_RELAY_PORT_8080_TCP", "tcp://10.0.0.1:8080"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PROTO", "tcp"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PORT", "8080"},
      {"OUTBOX_RELAY_PORT_8080_TCP_ADDR", "10.0.0.1"},
      {"OUTBOX_RELAY_PORT_53_UDP", "udp://[fd00::1]:53"},
      {"OUTBOX_RELAY_METRICS_SERVICE_HOST", "fd00::2"},
      {"OUTBOX_RELAY_METRICS_PORT_9742_SCTP_ADDR", "10.0.0.2"},
  };
  const Config config = ParseConfig(kMinimal, links);
  std::vector<std::string> expected;
  for (const auto& entry : links) expected.push_back(entry.first);
  EXPECT_EQ(config.ignored_service_links, expected);
}

// Only the exact shapes are service links: a near miss in name or value stays an error naming
// the variable, so a typo in a real key is never ignored.
TEST(ServiceLinksTest, NearMissesOfServiceLinksAreErrors) {
  const std::vector<std::pair<std::string, std::string>> near_misses = {
      {"OUTBOX_RELAY_SOURCE_DSNN", "x"},
      {"OUTBOX_RELAY_PORT", "9742"},
      {"OUTBOX_RELAY_PORT", "http://10.0.0.1:8080"},
      {"OUTBOX_RELAY_PORT", "tcp://db.example:8080"},
      {"OUTBOX_RELAY_SERVICE_HOST", "db.example"},
      {"OUTBOX_RELAY_SERVICE_PORT", "http"},
      {"OUTBOX_RELAY_SERVICE_PORT", "70000"},
      {"OUTBOX_RELAY_PORT_8080_TCP", "tcp://10.0.0.1:9090"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PROTO", "udp"},
      {"OUTBOX_RELAY_PORT_8080_TCP_PORT", "9090"},
      {"OUTBOX_RELAY_PORT_8080_TCP_HOST", "10.0.0.1"},
      {"OUTBOX_RELAY_PORT_8080_HTTP", "tcp://10.0.0.1:8080"},
      {"OUTBOX_RELAY_HTTP_PORT", "9742"},
      {"OUTBOX_RELAY_SERVICE", "10.0.0.1"},
  };
  for (const auto& [variable, value] : near_misses) {
    const ConfigError error = ErrorFrom(kMinimal, {{variable, value}});
    EXPECT_EQ(error.key(), variable) << variable << "=" << value;
    EXPECT_THAT(error.what(), HasSubstr("matches no configuration key")) << variable << "=" << value;
  }
}

}  // namespace
}  // namespace outbox_relay::config
