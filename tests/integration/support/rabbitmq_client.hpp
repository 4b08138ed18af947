#pragma once

// The harness's RabbitMQ (harness.sh start-rabbitmq) from the tests' side: started on demand,
// topology declared and removed, and queues read back as KafkaRecords so that the delivery
// oracle (support/oracle.hpp) judges RabbitMQ deliveries exactly as it judges Kafka's.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/kafka_reader.hpp"

struct amqp_connection_state_t_;

namespace outbox_relay::it {

struct RabbitMqEnv {
  std::string host;
  int port = 0;
  int tls_port = 0;
  std::string user;
  std::string password;
};

/// Starts the harness's RabbitMQ unless it runs (its output under `log_dir`) and reads its env.
RabbitMqEnv StartRabbitMq(const std::string& log_dir);

/// One blocking AMQP connection with one channel.
class RabbitMqClient {
 public:
  explicit RabbitMqClient(const RabbitMqEnv& env);
  ~RabbitMqClient();
  RabbitMqClient(const RabbitMqClient&) = delete;
  RabbitMqClient& operator=(const RabbitMqClient&) = delete;

  /// A durable exchange of `type`.
  void DeclareExchange(const std::string& exchange, const std::string& type = "topic");
  /// A durable queue bound to `exchange` with `binding_key`.
  void DeclareQueue(const std::string& queue, const std::string& exchange, const std::string& binding_key);
  void DeleteExchange(const std::string& exchange);
  void DeleteQueue(const std::string& queue);

  /// Takes every message now in `queue` (basic.get, acknowledged), as records: topic = routing
  /// key, partition 0, offset = arrival order, key = the `key` header, value = body, headers =
  /// the rest of the headers table.
  std::vector<KafkaRecord> Take(const std::string& queue);

  /// Reads `count` messages of stream queue `stream` from its first offset (or what arrived
  /// within `timeout`), as Take does; the stream keeps them.
  std::vector<KafkaRecord> ReadStream(const std::string& stream, std::size_t count,
                                      std::chrono::milliseconds timeout);

  /// Messages taken so far whose message_id property was not their `id` header.
  std::size_t MessageIdMismatches() const { return message_id_mismatches_; }

 private:
  // Numbers the record and checks its message_id.
  void Count(KafkaRecord& record, const std::optional<std::string>& message_id);

  amqp_connection_state_t_* connection_ = nullptr;
  std::int64_t taken_ = 0;
  std::size_t message_id_mismatches_ = 0;
};

/// Takes `queue`'s messages into `records` until every id of `wanted` (header "id") is among
/// them or `timeout` passed; returns how many distinct wanted ids were read.
std::size_t TakeUntilDelivered(RabbitMqClient& client, const std::string& queue,
                               const std::vector<std::string>& wanted, std::chrono::milliseconds timeout,
                               std::vector<KafkaRecord>& records);

}  // namespace outbox_relay::it
