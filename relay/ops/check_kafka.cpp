// `outbox-relay check`: the Kafka brokers answer, then the topics (kafka_topic_check.hpp).

#include <librdkafka/rdkafka.h>

#include <array>
#include <chrono>
#include <string>

#include "relay/ops/check.hpp"
#include "relay/ops/kafka_topic_check.hpp"

namespace outbox_relay::ops::detail {
namespace {

constexpr int kKafkaTimeoutMs = 5000;

// librdkafka logs every failed broker connection to stderr; the check reports the outcome.
void DiscardKafkaLog(const rd_kafka_t*, int, const char*, const char*) {}

// Keeps the newest client error (authentication, TLS, connection refused) in the std::string
// the conf's opaque points to: "no metadata" alone would not say why.
void KeepKafkaError(rd_kafka_t*, int, const char* reason, void* opaque) {
  *static_cast<std::string*>(opaque) = reason;
}

}  // namespace

sinks::KafkaConfHandle KafkaConf(const config::Config& config) {
  sinks::KafkaConfHandle conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  for (const auto& [key, value] : config.kafka) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size()) !=
        RD_KAFKA_CONF_OK) {
      throw config::ConfigError("kafka." + key, error.data());
    }
  }
  rd_kafka_conf_set_log_cb(conf.get(), DiscardKafkaLog);
  return conf;
}

sinks::KafkaHandle KafkaBrokers(const config::Config& config, sinks::KafkaConfHandle conf, std::string& last_error,
                                CheckReport& report) {
  std::string servers;
  for (const char* key : {"bootstrap.servers", "metadata.broker.list"}) {
    if (auto found = config.kafka.find(key); found != config.kafka.end()) servers = found->second;
  }
  const std::string what = "kafka " + servers;
  const std::string hint =
      "check kafka.bootstrap.servers (and the kafka.security.protocol / sasl.* / ssl.* properties); "
      "the brokers must be reachable from here";
  rd_kafka_conf_set_error_cb(conf.get(), KeepKafkaError);
  rd_kafka_conf_set_opaque(conf.get(), &last_error);
  std::array<char, 512> error{};
  sinks::KafkaHandle producer(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
  if (!producer) {
    report.Fail(what, std::string("cannot create a Kafka client: ") + error.data(), hint);
    return producer;
  }
  static_cast<void>(conf.release());  // rd_kafka_new owns it once it succeeded
  const auto start = std::chrono::steady_clock::now();
  const rd_kafka_metadata_t* raw = nullptr;
  // Brokers only (no topic list): what any client asks first.
  const rd_kafka_resp_err_t code = rd_kafka_metadata(producer.get(), 0, nullptr, &raw, kKafkaTimeoutMs);
  sinks::KafkaMetadataHandle metadata(raw);
  if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_poll(producer.get(), 0);  // serves the error callbacks queued meanwhile
    report.Fail(what,
                "no metadata within " + std::to_string(kKafkaTimeoutMs / 1000) + " s (" + rd_kafka_err2str(code) +
                    (last_error.empty() ? "" : "; last error: " + OneLine(last_error)) + ")",
                hint);
    return {};
  }
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  report.Ok(what + ": " + std::to_string(metadata->broker_cnt) + " broker(s) answered in " +
            std::to_string(elapsed.count()) + " ms");
  return producer;
}

void CheckKafka(const config::Config& config, sinks::KafkaConfHandle conf, CheckReport& report) {
  std::string last_error;
  if (!KafkaBrokers(config, std::move(conf), last_error, report)) return;
  // KafkaConf succeeded for CheckCommand, so it does not throw here.
  for (const auto& line : CheckKafkaTopics(config, KafkaConf(config), kKafkaTimeoutMs)) {
    if (line.ok) {
      report.Ok(line.what + ": " + line.text);
    } else {
      report.Fail(line.what, line.text, line.hint);
    }
  }
}

}  // namespace outbox_relay::ops::detail
