#include "inbox/dead_letter_producer.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace outbox_relay::inbox {
namespace {

// A record's opaque is its sequence number; an acknowledged one raises the producer's mark.
// Reports of records an earlier Write gave up on arrive late and name older numbers.
void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto& acknowledged = *static_cast<std::atomic<std::uint64_t>*>(opaque);
  const auto sequence = reinterpret_cast<std::uintptr_t>(message->_private);
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR && sequence > acknowledged.load()) acknowledged.store(sequence);
}

}  // namespace

DeadLetterProducer::DeadLetterProducer(const config::Config& config) : topic_(config.inbox.dead_letter_topic) {
  sinks::KafkaConfHandle conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  const auto set = [&](const std::string& key, const std::string& value) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size()) !=
        RD_KAFKA_CONF_OK) {
      throw std::runtime_error("kafka." + key + ": " + error.data());
    }
  };
  for (const auto& [key, value] : config.kafka) {
    // The consumer's own settings mean nothing to a producer.
    if (key != "group.id" && key != "isolation.level" && key != "auto.offset.reset") set(key, value);
  }
  set("enable.idempotence", "true");
  set("acks", "all");
  rd_kafka_conf_set_dr_msg_cb(conf.get(), OnDelivery);
  rd_kafka_conf_set_opaque(conf.get(), &acknowledged_);
  producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
  if (!producer_) throw std::runtime_error(std::string("cannot create the dead-letter producer: ") + error.data());
  static_cast<void>(conf.release());  // rd_kafka_new owns it once it succeeded
}

base::Result<void> DeadLetterProducer::Write(const KafkaRecord& record, const PoisonCause& cause,
                                             std::chrono::milliseconds timeout) {
  sinks::KafkaHeadersHandle headers(rd_kafka_headers_new(record.headers.size() + 6));
  for (const auto& [name, value] : record.headers) {
    rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  const auto add = [&](const char* name, const std::string& value) {
    rd_kafka_header_add(headers.get(), name, -1, value.data(), static_cast<ssize_t>(value.size()));
  };
  add("__outbox_relay.errors.reason", cause.reason);
  add("__outbox_relay.errors.message", cause.message);
  add("__outbox_relay.errors.topic", record.topic);
  add("__outbox_relay.errors.partition", std::to_string(record.partition));
  add("__outbox_relay.errors.offset", std::to_string(record.offset));
  if (!cause.handler.empty()) add("__outbox_relay.errors.handler", cause.handler);

  const std::uint64_t sequence = ++sent_;
  // The record as it was consumed: a null key or value stays null.
  const void* key = record.key ? record.key->data() : nullptr;
  const std::size_t key_size = record.key ? record.key->size() : 0;
  void* value = record.value ? const_cast<char*>(record.value->data()) : nullptr;
  const std::size_t value_size = record.value ? record.value->size() : 0;
  const rd_kafka_resp_err_t queued = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_TOPIC(topic_.c_str()), RD_KAFKA_V_KEY(key, key_size),
      RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_HEADERS(headers.get()),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(sequence))), RD_KAFKA_V_END);
  if (queued != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return base::Error::Retryable("cannot queue the dead letter: " + std::string(rd_kafka_err2str(queued)));
  }
  static_cast<void>(headers.release());  // the message owns them now
  // The flush serves the delivery reports. A record it gave up on may still arrive later: a
  // dead letter is written at least once.
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(producer_.get(), static_cast<int>(timeout.count()));
  if (acknowledged_.load() >= sequence) return boost::outcome_v2::success();
  return base::Error::Retryable("Kafka did not acknowledge the dead letter to " + topic_ + " within " +
                                std::to_string(timeout.count()) + " ms (" + rd_kafka_err2str(flushed) + ")");
}

}  // namespace outbox_relay::inbox
