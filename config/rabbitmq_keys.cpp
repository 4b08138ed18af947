// rabbitmq.*: the connection, exchanges and TLS of sink.type: rabbitmq.

#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config::detail {
namespace {

constexpr std::size_t kMaxPort = 65535;
// AMQP 0-9-1 short strings: exchange and queue names.
constexpr std::size_t kMaxAmqpName = 255;

// A fixed exchange or queue name; empty when `allow_empty` (the default exchange, no stream).
Problem CheckAmqpName(const std::string& name, bool allow_empty) {
  if (name.empty()) return allow_empty ? std::nullopt : Problem("must not be empty");
  if (name.size() > kMaxAmqpName) return "must be at most 255 bytes, got " + std::to_string(name.size());
  return std::nullopt;
}

}  // namespace

std::vector<KeySpec> RabbitMqKeys() {
  return {
      StringKey(
          "rabbitmq.host", [](auto& c) -> auto& { return c.rabbitmq.host; },
          [](const std::string& host, const Config&) -> Problem {
            return host.empty() ? Problem("must not be empty") : std::nullopt;
          }),
      CountKey(
          "rabbitmq.port", [](auto& c) -> auto& { return c.rabbitmq.port; }, 0,
          [](const Config& c) -> Problem {
            if (c.rabbitmq.port > kMaxPort) return "must be at most 65535, got " + std::to_string(c.rabbitmq.port);
            return std::nullopt;
          }),
      StringKey(
          "rabbitmq.vhost", [](auto& c) -> auto& { return c.rabbitmq.vhost; },
          [](const std::string& vhost, const Config&) { return CheckAmqpName(vhost, false); }),
      StringKey(
          "rabbitmq.username", [](auto& c) -> auto& { return c.rabbitmq.username; }, AnyText),
      StringKey(
          "rabbitmq.password", [](auto& c) -> auto& { return c.rabbitmq.password; }, AnyText),
      // A template like outbox.topic: the exchange can depend on the event.
      StringKey(
          "rabbitmq.exchange", [](auto& c) -> auto& { return c.rabbitmq.exchange; },
          [](const std::string& exchange, const Config& config) -> Problem {
            if (Problem problem = CheckAmqpName(exchange, false)) return problem;
            return CheckTopicTemplate(exchange, config);
          }),
      StringKey(
          "rabbitmq.dead_letter_exchange", [](auto& c) -> auto& { return c.rabbitmq.dead_letter_exchange; },
          [](const std::string& exchange, const Config&) { return CheckAmqpName(exchange, true); }),
      StringKey(
          "rabbitmq.stream", [](auto& c) -> auto& { return c.rabbitmq.stream; },
          [](const std::string& stream, const Config&) { return CheckAmqpName(stream, true); }),
      StringKey(
          "rabbitmq.correlation_id_header", [](auto& c) -> auto& { return c.rabbitmq.correlation_id_header; },
          AnyText),
      BoolKey("rabbitmq.tls", [](auto& c) -> auto& { return c.rabbitmq.tls; }),
      StringKey(
          "rabbitmq.ca_file", [](auto& c) -> auto& { return c.rabbitmq.ca_file; }, AnyText),
      StringKey(
          "rabbitmq.cert_file", [](auto& c) -> auto& { return c.rabbitmq.cert_file; },
          [](const std::string& cert, const Config& config) -> Problem {
            if (cert.empty() != config.rabbitmq.key_file.empty()) {
              return "rabbitmq.cert_file and rabbitmq.key_file go together";
            }
            if (!cert.empty() && !config.rabbitmq.tls) return "needs rabbitmq.tls: true";
            return std::nullopt;
          }),
      StringKey(
          "rabbitmq.key_file", [](auto& c) -> auto& { return c.rabbitmq.key_file; }, AnyText),
      BoolKey("rabbitmq.verify_hostname", [](auto& c) -> auto& { return c.rabbitmq.verify_hostname; }),
      SecondsKey("rabbitmq.heartbeat_seconds", [](auto& c) -> auto& { return c.rabbitmq.heartbeat; }),
      MillisKey(
          "rabbitmq.connect_timeout_ms", [](auto& c) -> auto& { return c.rabbitmq.connect_timeout; }, 100,
          kMaxDurationMs),
  };
}

}  // namespace outbox_relay::config::detail
