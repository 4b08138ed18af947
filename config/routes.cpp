// outbox.routes: the routing rules, converted and checked once the captured tables and
// prefixes are known (a rule's source must be one of them).

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"

namespace outbox_relay::config::detail {
namespace {

// The `source` values events of this configuration can carry, as the mapper spells them.
std::vector<std::string> CapturedSources(const OutboxConfig& outbox) {
  std::vector<std::string> sources;
  if (outbox.CapturesTables()) {
    for (const TableName& table : outbox.tables) sources.push_back("table:" + table.Qualified());
  }
  if (outbox.CapturesMessages()) {
    for (const std::string& prefix : outbox.message_prefixes) sources.push_back("message:" + prefix);
  }
  return sources;
}

}  // namespace

void AssignRoutes(Config& config, const std::vector<RawValues>& routes) {
  const std::vector<std::string> sources = CapturedSources(config.outbox);
  const auto route_key = [](std::size_t index, std::string_view field) {
    return RuleKey(kRoutesKey, index, field);
  };
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RawValues& fields = routes[i];
    const auto field = [&fields](const char* name) -> std::string {
      const auto it = fields.find(name);
      return it == fields.end() ? "" : it->second.text;
    };
    RouteConfig route{field("source"), field("aggregate_type"), field("type"), field("topic"), field("key"),
                      std::nullopt,    field("exchange")};
    if (const std::string format = field("format"); !format.empty()) {
      route.format = ParseChoice(FormatChoices(), format, route_key(i, "format"));
    }
    if (route.topic.empty() && route.key.empty() && !route.format && route.exchange.empty()) {
      throw ConfigError(route_key(i, ""), "sets none of topic, key, format, exchange, so it changes nothing");
    }
    if (!route.exchange.empty()) {
      if (config.sink.type != SinkType::kRabbitMq) {
        throw ConfigError(route_key(i, "exchange"), "needs sink.type: rabbitmq (Kafka has no exchanges)");
      }
      if (Problem problem = CheckTopicTemplate(route.exchange, config)) {
        throw ConfigError(route_key(i, "exchange"), *problem);
      }
    }
    if (!route.source.empty() && std::find(sources.begin(), sources.end(), route.source) == sources.end()) {
      std::string captured;
      for (const std::string& source : sources) captured += (captured.empty() ? "" : ", ") + source;
      throw ConfigError(route_key(i, "source"),
                        "\"" + route.source + "\" matches no captured source (captured: " + captured + ")");
    }
    if (!route.topic.empty()) {
      if (Problem problem = CheckTopicTemplate(route.topic, config)) {
        throw ConfigError(route_key(i, "topic"), *problem);
      }
    }
    if (!route.key.empty()) {
      if (Problem problem = CheckIdentifier(route.key)) throw ConfigError(route_key(i, "key"), *problem);
    }
    config.outbox.routes.push_back(std::move(route));
  }
}

}  // namespace outbox_relay::config::detail
