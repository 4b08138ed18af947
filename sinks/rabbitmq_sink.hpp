#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "config/config.hpp"
#include "sinks/amqp_message.hpp"
#include "sinks/sink.hpp"

struct amqp_connection_state_t_;

namespace outbox_relay::sinks {

/// How to reach RabbitMQ (config::RabbitMqConfig, without the templates the mapper renders).
struct RabbitMqSettings {
  std::string host;
  int port = 5672;
  std::string vhost = "/";
  std::string username;
  std::string password;
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify_hostname = true;
  std::chrono::seconds heartbeat{30};
  std::chrono::milliseconds connect_timeout{10000};
  AmqpRouting routing;

  /// "amqps://host:port (vhost /)", for log lines and check.
  std::string Address() const;
};

/// The settings of the rabbitmq section.
RabbitMqSettings RabbitMqSettingsOf(const config::RabbitMqConfig& config);

/// Publishes events to RabbitMQ over one AMQP 0-9-1 connection (rabbitmq-c) and one channel in
/// confirm mode: persistent messages, `mandatory`, in publish order. A broker ack reports
/// Delivered; a basic.return before it reports RefusedAsPoison (unroutable); a nack, a closed
/// channel or a lost connection reports GaveUp for every unconfirmed message and Withdrawn for
/// the unsent ones, so the relay sends them again from the slot, in order. Frames are read on
/// the io_context when the socket is readable; the heartbeat is kept by a timer. Connecting
/// (TCP, TLS, login, channel, confirm.select, the stream queue) blocks, so it runs on a private
/// worker thread, with the backoff doubling from 0.5 s to 30 s between attempts.
class RabbitMqSink final : public Sink {
 public:
  /// Starts connecting. Throws SinkError naming the key of a TLS file it cannot read.
  RabbitMqSink(boost::asio::io_context& io, RabbitMqSettings settings);
  ~RabbitMqSink() override;

  RabbitMqSink(const RabbitMqSink&) = delete;
  RabbitMqSink& operator=(const RabbitMqSink&) = delete;

  void SetHandlers(Handlers handlers) override;
  std::size_t Publish(const outbox::OutboxEvent& event, std::uint64_t tag) override;
  std::size_t PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                std::uint64_t tag) override;
  bool Connected() const override { return connection_ != nullptr; }

  /// Connects, opens a channel and checks that `exchanges` and the stream, if any, exist
  /// (passive declares: nothing is created), blocking up to the connect timeout: what `check`
  /// runs. Returns the problems found, one line each.
  static std::vector<std::string> Probe(const RabbitMqSettings& settings,
                                        const std::vector<std::string>& exchanges);

 private:
  // A published message awaiting its confirm; `returned` is set by a basic.return before it.
  struct Unconfirmed {
    std::uint64_t sequence = 0;
    AmqpMessage message;
    std::optional<std::string> returned;  // the broker's reply text
  };

  std::size_t Enqueue(AmqpMessage message);
  void StartConnect();
  void OnConnected(amqp_connection_state_t_* connection);
  void OnConnectFailed(const std::string& error);
  void Flush();
  void ArmRead();
  void ArmHeartbeat();
  void ServeFrames();
  void OnConfirm(std::uint64_t sequence, bool multiple, bool ack);
  void OnReturn(std::uint16_t channel, const std::string& exchange, const std::string& routing_key,
                const std::string& reply);
  // Ends the connection: every message not confirmed is reported undelivered.
  void Lose(const std::string& reason);
  void Report(const AmqpMessage& message, DeliveryOutcome outcome) const;

  boost::asio::io_context& io_;
  RabbitMqSettings settings_;
  Handlers handlers_;
  amqp_connection_state_t_* connection_ = nullptr;  // set while connected (io thread only)
  boost::asio::posix::stream_descriptor socket_;    // the connection's socket, not owned
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds backoff_{500};
  boost::asio::thread_pool worker_{1};  // the blocking connect
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // posted completions check it
  bool blocked_ = false;       // connection.blocked: the broker is out of memory or disk
  bool flush_posted_ = false;  // one Flush per io_context turn
  std::uint64_t next_sequence_ = 1;  // confirm mode numbers messages from 1 per channel
  std::deque<AmqpMessage> unsent_;
  std::deque<Unconfirmed> unconfirmed_;
};

}  // namespace outbox_relay::sinks
