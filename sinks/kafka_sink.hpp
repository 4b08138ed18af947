#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "outbox/event_encoder.hpp"
#include "sinks/kafka_handles.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::sinks {

/// The librdkafka properties the sink sets before the user's kafka.* ones (which may change all
/// but enable.idempotence and acks: config validation refuses weaker values).
const std::map<std::string, std::string>& ProducerDefaults();

/// Exactly-once settings: the producer is transactional and checkpoints go to a topic.
struct KafkaTransactionSettings {
  std::string transactional_id;
  std::chrono::milliseconds transaction_timeout{60000};
  std::string checkpoint_topic;
  std::size_t checkpoint_replication_factor = 0;  // 0: the broker's default
  std::string slot;                               // checkpoint key
};

/// Publishes events with an idempotent librdkafka producer (acks=all): key = event.key, value
/// and headers as outbox::EncodeEvent lays out the event's format, Java-compatible
/// murmur2_random partitioning; transactional when given transaction settings.
/// Delivery reports, errors and logs are librdkafka events served on the io_context thread
/// when librdkafka signals them through a pipe, so nothing polls. librdkafka's blocking
/// transaction calls run on a private worker thread.
class KafkaSink final : public TransactionalSink {
 public:
  /// `properties` are librdkafka settings passed through (kafka.* in the config), applied over
  /// the relay's defaults. Throws SinkError naming a rejected property. Does not connect.
  KafkaSink(boost::asio::io_context& io, const std::map<std::string, std::string>& properties,
            std::optional<KafkaTransactionSettings> transactions = std::nullopt);
  ~KafkaSink() override;

  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  void SetHandlers(Handlers handlers) override;
  std::size_t Publish(const outbox::OutboxEvent& event, std::uint64_t tag) override;
  std::size_t PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                std::uint64_t tag) override;
  bool Connected() const override { return connected_; }

  boost::asio::awaitable<void> InitTransactions() override;
  boost::asio::awaitable<std::optional<std::string>> ReadCheckpoint() override;
  void BeginTransaction() override;
  boost::asio::awaitable<std::optional<std::string>> CommitTransaction(
      const std::string& commit_lsn) override;
  boost::asio::awaitable<void> AbortTransaction() override;

 private:
  // Produces record_ with `key` to `topic`; the record's headers are copied.
  rd_kafka_resp_err_t Produce(const std::string& topic, std::optional<std::string_view> key,
                              std::uint64_t opaque);
  void ArmWakeup();
  void ServeEvents();
  void OnDelivery(const rd_kafka_message_t& message);
  void OnError(rd_kafka_event_t& event);
  void OnStats(const char* json);
  void CreateCheckpointTopic();
  std::optional<std::string> ReadCheckpointBlocking();
  std::optional<std::string> CommitBlocking();
  void AbortBlocking();
  const KafkaTransactionSettings& Transactions() const;

  std::map<std::string, std::string> properties_;  // the user's, for the checkpoint reader
  std::optional<KafkaTransactionSettings> transactions_;
  KafkaHandle producer_;
  KafkaQueueHandle main_queue_;
  boost::asio::posix::stream_descriptor wakeup_;  // read end of the pipe librdkafka writes to
  int wakeup_write_fd_ = -1;
  boost::asio::thread_pool worker_{1};  // librdkafka's blocking transaction calls
  Handlers handlers_;
  outbox::EncodedEvent record_;  // reused by every Publish, so encoding allocates nothing
  bool connected_ = false;
};

}  // namespace outbox_relay::sinks
