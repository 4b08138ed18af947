// librdkafka configuration objects: the producer's, and the checkpoint reader's.

#include <array>

#include "sinks/kafka_detail.hpp"
#include "sinks/kafka_sink.hpp"

namespace outbox_relay::sinks {

const std::map<std::string, std::string>& ProducerDefaults() {
  // The relay's delivery contract rests on the first two; config validation refuses weaker values.
  static const std::map<std::string, std::string> kDefaults = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // Same partition for the same key as the Java client, so Java and Kafka Streams consumers
      // co-partition with these topics.
      {"partitioner", "murmur2_random"},
      {"client.id", "outbox-relay"},
      // Logs go to the main queue with everything else, served on the io_context thread.
      {"log.queue", "true"},
      // Broker states for Connected() (readiness), without a request of our own.
      {"statistics.interval.ms", "5000"},
  };
  return kDefaults;
}

namespace detail {

void SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  std::array<char, 512> error{};
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error.data(), error.size()) != RD_KAFKA_CONF_OK) {
    throw SinkError("kafka." + key + ": " + error.data());
  }
}

KafkaConfHandle MakeProducerConf(const std::map<std::string, std::string>& properties,
                                 const std::optional<KafkaTransactionSettings>& transactions) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  for (const auto& [key, value] : ProducerDefaults()) SetProperty(conf.get(), key, value);
  if (transactions) {
    SetProperty(conf.get(), "transactional.id", transactions->transactional_id);
    SetProperty(conf.get(), "transaction.timeout.ms", std::to_string(transactions->transaction_timeout.count()));
    // A message must give up before its transaction does, or its outcome is ambiguous.
    SetProperty(conf.get(), "message.timeout.ms",
                std::to_string(transactions->transaction_timeout.count() * 9 / 10));
  }
  for (const auto& [key, value] : properties) SetProperty(conf.get(), key, value);
  rd_kafka_conf_set_events(conf.get(),
                           RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_STATS);
  return conf;
}

KafkaConfHandle MakeCheckpointReaderConf(const std::map<std::string, std::string>& properties) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  // The user's connection and security settings; the producer-only ones are not needed. The
  // producer's configuration, built first, already refused what librdkafka rejects.
  for (const auto& [key, value] : properties) {
    std::array<char, 512> error{};
    rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size());
  }
  SetProperty(conf.get(), "group.id", "outbox-relay-checkpoint-reader");
  SetProperty(conf.get(), "isolation.level", "read_committed");
  SetProperty(conf.get(), "enable.auto.commit", "false");
  SetProperty(conf.get(), "enable.partition.eof", "true");
  SetProperty(conf.get(), "log.queue", "false");
  return conf;
}

}  // namespace detail
}  // namespace outbox_relay::sinks
