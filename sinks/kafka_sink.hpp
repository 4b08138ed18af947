#pragma once

#include <map>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "sinks/kafka_handles.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::sinks {

/// Publishes events with an idempotent librdkafka producer (acks=all), key = aggregate id,
/// Java-compatible murmur2_random partitioning. Delivery reports are served on the
/// io_context thread when librdkafka signals them through a pipe, so nothing polls or blocks.
class KafkaSink final : public Sink {
 public:
  /// `properties` are librdkafka settings passed through (kafka.* in the config); they are
  /// applied over the relay's defaults. Throws SinkError naming a rejected property.
  KafkaSink(boost::asio::io_context& io, const std::map<std::string, std::string>& properties);
  ~KafkaSink() override;

  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  void SetHandlers(Handlers handlers) override;
  void Publish(const outbox::OutboxEvent& event, std::uint64_t tag) override;
  bool Connected() const override { return connected_; }

  /// librdkafka callbacks land here (bridged once in kafka_sink.cpp).
  void OnDelivery(const rd_kafka_message_t& message);
  void OnError(int error, const char* reason);
  void OnLog(int level, const char* facility, const char* message);

 private:
  void ArmWakeup();
  void ServeEvents();

  boost::asio::io_context& io_;
  KafkaHandle producer_;
  KafkaQueueHandle main_queue_;
  boost::asio::posix::stream_descriptor wakeup_;  // read end of the pipe librdkafka writes to
  int wakeup_write_fd_ = -1;
  Handlers handlers_;
  bool connected_ = false;
};

}  // namespace outbox_relay::sinks
