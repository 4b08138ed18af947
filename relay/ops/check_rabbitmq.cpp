// `outbox-relay check` for sink.type: rabbitmq: the broker answers and takes the login, and the
// exchanges (and the stream) the relay publishes to exist.

#include <string>
#include <vector>

#include "config/topic_template.hpp"
#include "relay/ops/check.hpp"
#include "sinks/rabbitmq_sink.hpp"

namespace outbox_relay::ops::detail {

void CheckRabbitMq(const config::Config& config, CheckReport& report) {
  const sinks::RabbitMqSettings settings = sinks::RabbitMqSettingsOf(config.rabbitmq);
  const std::string where = settings.Address();
  // Exchanges with placeholders depend on the event: only the fixed ones can be checked now.
  std::vector<std::string> exchanges;
  std::vector<std::string> templates;
  const auto add = [&](const std::string& exchange) {
    if (exchange.empty()) return;
    (config::TopicTemplate(exchange).HasPlaceholders() ? templates : exchanges).push_back(exchange);
  };
  if (config.rabbitmq.stream.empty()) {
    add(config.rabbitmq.exchange);
    for (const config::RouteConfig& route : config.outbox.routes) add(route.exchange);
  }
  if (config.on_poison == config::PoisonPolicy::kDeadLetter) add(config.rabbitmq.dead_letter_exchange);
  const std::vector<std::string> problems = sinks::RabbitMqSink::Probe(settings, exchanges);
  if (!problems.empty()) {
    for (const std::string& problem : problems) {
      report.Fail("RabbitMQ at " + where, problem,
                  "check rabbitmq.host, rabbitmq.port, the credentials and TLS settings, and declare the "
                  "exchanges (durable) before the relay publishes");
    }
    return;
  }
  report.Ok("RabbitMQ at " + where + ": connected and logged in as " + settings.username);
  for (const std::string& exchange : exchanges) report.Ok("exchange " + exchange + " exists");
  if (!config.rabbitmq.stream.empty()) report.Ok("stream " + config.rabbitmq.stream + " exists");
  for (const std::string& exchange : templates) {
    report.Ok("exchange template " + exchange + ": each exchange it names must exist when events use it");
  }
}

}  // namespace outbox_relay::ops::detail
