// RabbitMqSink: rabbitmq-c driven from the io_context. Connecting blocks and runs on the
// worker; once connected the io thread alone owns the connection: it publishes, and it reads
// confirms, returns and closes when the socket is readable.

#include "sinks/rabbitmq_sink.hpp"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>
#include <variant>

#include <boost/asio/post.hpp>

#include "sinks/sinks_log.hpp"

namespace outbox_relay::sinks {
namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr std::uint8_t kPersistent = 2;
// RabbitMQ's max_message_size default (3.8+): the broker closes the channel past it.
constexpr std::size_t kMaxMessageBytes = std::size_t{128} * 1024 * 1024;
constexpr std::chrono::milliseconds kMaxBackoff{30000};
constexpr std::chrono::milliseconds kFirstBackoff{500};

using detail::Log;

amqp_bytes_t Bytes(std::string_view text) { return amqp_bytes_t{text.size(), const_cast<char*>(text.data())}; }
std::string Text(amqp_bytes_t bytes) { return {static_cast<const char*>(bytes.bytes), bytes.len}; }

timeval Timeval(std::chrono::milliseconds duration) {
  return timeval{static_cast<time_t>(duration.count() / 1000),
                 static_cast<suseconds_t>(duration.count() % 1000 * 1000)};
}

// "<what>: <code> <text>" of a channel.close or connection.close, which have the same fields.
template <typename Close>
std::string Closed(const char* what, const Close& close) {
  return std::string(what) + ": " + std::to_string(close.reply_code) + " " + Text(close.reply_text);
}

// What an RPC reply says went wrong, with the broker's code and text.
std::string Describe(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        return Closed("the broker closed the connection",
                      *static_cast<const amqp_connection_close_t*>(reply.reply.decoded));
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        return Closed("the broker closed the channel",
                      *static_cast<const amqp_channel_close_t*>(reply.reply.decoded));
      }
      return "the broker refused method " + std::to_string(reply.reply.id);
  }
  return "unknown reply";
}

// A connection that is closed and freed unless released: the connect steps' error paths.
struct ConnectionOwner {
  amqp_connection_state_t connection = amqp_new_connection();
  ~ConnectionOwner() {
    if (connection != nullptr) amqp_destroy_connection(connection);
  }
  amqp_connection_state_t Release() { return std::exchange(connection, nullptr); }
};

// Connects, logs in and opens channel kChannel; throws SinkError(retryable) saying which step
// failed. Never mentions the password.
amqp_connection_state_t Open(const RabbitMqSettings& settings) {
  ConnectionOwner owner;
  amqp_connection_state_t connection = owner.connection;
  amqp_socket_t* socket = settings.tls ? amqp_ssl_socket_new(connection) : amqp_tcp_socket_new(connection);
  if (socket == nullptr) throw SinkError("cannot create a socket for RabbitMQ", true);
  if (settings.tls) {
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, settings.verify_hostname ? 1 : 0);
    if (!settings.ca_file.empty()) {
      if (const int status = amqp_ssl_socket_set_cacert(socket, settings.ca_file.c_str());
          status != AMQP_STATUS_OK) {
        throw SinkError("rabbitmq.ca_file: cannot load " + settings.ca_file + ": " + amqp_error_string2(status));
      }
    }
    if (!settings.cert_file.empty()) {
      const int status = amqp_ssl_socket_set_key(socket, settings.cert_file.c_str(), settings.key_file.c_str());
      if (status != AMQP_STATUS_OK) {
        throw SinkError("rabbitmq.cert_file/key_file: cannot load " + settings.cert_file + " and " +
                        settings.key_file + ": " + amqp_error_string2(status));
      }
    }
  }
  const timeval timeout = Timeval(settings.connect_timeout);
  amqp_set_handshake_timeout(connection, &timeout);
  amqp_set_rpc_timeout(connection, &timeout);
  if (const int status = amqp_socket_open_noblock(socket, settings.host.c_str(), settings.port, &timeout);
      status != AMQP_STATUS_OK) {
    std::string error = "cannot connect to RabbitMQ at " + settings.Address() + ": " + amqp_error_string2(status);
    if (settings.tls) error += " (check rabbitmq.ca_file and that rabbitmq.host is a name the certificate covers)";
    throw SinkError(error, true);
  }
  // Announce that the relay handles connection.blocked (publishing pauses while the broker
  // is short of memory or disk) and publisher confirms.
  std::array<amqp_table_entry_t, 2> capability_entries{};
  capability_entries[0].key = amqp_cstring_bytes("connection.blocked");
  capability_entries[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability_entries[0].value.value.boolean = 1;
  capability_entries[1].key = amqp_cstring_bytes("publisher_confirms");
  capability_entries[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  capability_entries[1].value.value.boolean = 1;
  std::array<amqp_table_entry_t, 2> property_entries{};
  property_entries[0].key = amqp_cstring_bytes("capabilities");
  property_entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
  property_entries[0].value.value.table = {static_cast<int>(capability_entries.size()), capability_entries.data()};
  property_entries[1].key = amqp_cstring_bytes("connection_name");
  property_entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
  property_entries[1].value.value.bytes = amqp_cstring_bytes("outbox-relay");
  const amqp_table_t properties{static_cast<int>(property_entries.size()), property_entries.data()};
  const amqp_rpc_reply_t login = amqp_login_with_properties(
      connection, settings.vhost.c_str(), 0, AMQP_DEFAULT_FRAME_SIZE, static_cast<int>(settings.heartbeat.count()),
      &properties, AMQP_SASL_METHOD_PLAIN, settings.username.c_str(), settings.password.c_str());
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    throw SinkError("RabbitMQ at " + settings.Address() + " refused the login as " + settings.username + ": " +
                        Describe(login) + "; check rabbitmq.username, rabbitmq.password and rabbitmq.vhost",
                    true);
  }
  amqp_channel_open(connection, kChannel);
  if (const amqp_rpc_reply_t reply = amqp_get_rpc_reply(connection); reply.reply_type != AMQP_RESPONSE_NORMAL) {
    throw SinkError("cannot open a RabbitMQ channel: " + Describe(reply), true);
  }
  return owner.Release();
}

// The channel in confirm mode, and the stream queue when events go to one.
void PrepareChannel(amqp_connection_state_t connection, const RabbitMqSettings& settings) {
  amqp_confirm_select(connection, kChannel);
  if (const amqp_rpc_reply_t reply = amqp_get_rpc_reply(connection); reply.reply_type != AMQP_RESPONSE_NORMAL) {
    throw SinkError("RabbitMQ refused publisher confirms: " + Describe(reply), true);
  }
  if (settings.routing.stream.empty()) return;
  amqp_table_entry_t queue_type{};
  queue_type.key = amqp_cstring_bytes("x-queue-type");
  queue_type.value.kind = AMQP_FIELD_KIND_UTF8;
  queue_type.value.value.bytes = amqp_cstring_bytes("stream");
  amqp_queue_declare(connection, kChannel, Bytes(settings.routing.stream), 0, 1, 0, 0,
                     amqp_table_t{1, &queue_type});
  if (const amqp_rpc_reply_t reply = amqp_get_rpc_reply(connection); reply.reply_type != AMQP_RESPONSE_NORMAL) {
    throw SinkError("cannot declare stream " + settings.routing.stream + " (rabbitmq.stream): " + Describe(reply),
                    true);
  }
}

int SendMessage(amqp_connection_state_t connection, const AmqpMessage& message) {
  std::vector<amqp_table_entry_t> headers(message.headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    headers[i].key = Bytes(message.headers[i].first);
    headers[i].value.kind = AMQP_FIELD_KIND_UTF8;
    headers[i].value.value.bytes = Bytes(message.headers[i].second);
  }
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_APP_ID_FLAG;
  properties.delivery_mode = kPersistent;
  properties.headers = amqp_table_t{static_cast<int>(headers.size()), headers.data()};
  properties.app_id = amqp_cstring_bytes("outbox-relay");
  const auto optional_text = [&properties](const std::string& text, amqp_flags_t flag, amqp_bytes_t& field) {
    if (text.empty()) return;
    properties._flags |= flag;
    field = Bytes(text);
  };
  optional_text(message.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG, properties.content_type);
  optional_text(message.message_id, AMQP_BASIC_MESSAGE_ID_FLAG, properties.message_id);
  optional_text(message.type, AMQP_BASIC_TYPE_FLAG, properties.type);
  optional_text(message.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG, properties.correlation_id);
  if (message.timestamp) {
    properties._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
    properties.timestamp = *message.timestamp;
  }
  return amqp_basic_publish(connection, kChannel, Bytes(message.exchange), Bytes(message.routing_key),
                            /*mandatory=*/1, /*immediate=*/0, &properties,
                            Bytes(message.body ? std::string_view(*message.body) : std::string_view()));
}

}  // namespace

std::string RabbitMqSettings::Address() const {
  return (tls ? "amqps://" : "amqp://") + host + ":" + std::to_string(port) + " (vhost " + vhost + ")";
}

RabbitMqSettings RabbitMqSettingsOf(const config::RabbitMqConfig& config) {
  // rabbitmq-c trusts no CA unless given a file (it never loads OpenSSL's default paths), so
  // "the system's CAs" is the bundle of Debian's ca-certificates, which the image installs.
  constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";
  return RabbitMqSettings{config.host,
                          static_cast<int>(config.Port()),
                          config.vhost,
                          config.username,
                          config.password,
                          config.tls,
                          config.tls && config.ca_file.empty() ? kSystemCaBundle : config.ca_file,
                          config.cert_file,
                          config.key_file,
                          config.verify_hostname,
                          config.heartbeat,
                          config.connect_timeout,
                          AmqpRouting{config.dead_letter_exchange, config.stream, config.correlation_id_header}};
}

RabbitMqSink::RabbitMqSink(boost::asio::io_context& io, RabbitMqSettings settings)
    : io_(io), settings_(std::move(settings)), socket_(io), heartbeat_timer_(io), retry_timer_(io) {
  // rabbitmq-c reads the TLS files only when it connects, where a missing one would be retried
  // forever: a configuration error, found before anything connects.
  for (const auto& [key, path] :
       {std::pair<const char*, const std::string&>{"rabbitmq.ca_file", settings_.ca_file},
        {"rabbitmq.cert_file", settings_.cert_file},
        {"rabbitmq.key_file", settings_.key_file}}) {
    if (!path.empty() && ::access(path.c_str(), R_OK) != 0) {
      throw SinkError(std::string(key) + ": cannot read " + path + ": " + std::strerror(errno));
    }
  }
  StartConnect();
}

RabbitMqSink::~RabbitMqSink() {
  alive_.reset();
  try {
    retry_timer_.cancel();
    heartbeat_timer_.cancel();
    // A connect in progress ends within rabbitmq.connect_timeout_ms; its completion finds the
    // sink gone and closes what it opened.
    worker_.join();
  } catch (const std::exception& error) {
    // Neither fails on Linux but for lack of resources; the connection is still closed below.
    static_cast<void>(error);
  }
  if (connection_ == nullptr) return;
  static_cast<void>(socket_.release());
  if (const std::size_t left = unconfirmed_.size() + unsent_.size(); left > 0) {
    try {
      Log().warn("dropping {} unconfirmed RabbitMQ messages at shutdown; they are sent again from the slot", left);
    } catch (const std::exception& error) {
      static_cast<void>(error);  // a log line is not worth a throwing destructor
    }
  }
  const timeval quick = Timeval(std::chrono::milliseconds(2000));
  amqp_set_rpc_timeout(connection_, &quick);
  static_cast<void>(amqp_connection_close(connection_, AMQP_REPLY_SUCCESS));
  amqp_destroy_connection(connection_);
}

void RabbitMqSink::SetHandlers(Handlers handlers) { handlers_ = std::move(handlers); }

std::size_t RabbitMqSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  AmqpMessage message = MessageOfEvent(event, settings_.routing, tag);
  if (message.body && message.body->size() > kMaxMessageBytes) {
    throw RecordTooLargeError("the message for exchange \"" + message.exchange + "\" (body " +
                              std::to_string(message.body->size()) +
                              " bytes) is over RabbitMQ's max_message_size (128 MiB)");
  }
  return Enqueue(std::move(message));
}

std::size_t RabbitMqSink::PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                            std::uint64_t tag) {
  AmqpMessage message = MessageOfPoison(poison, topic, settings_.routing, tag);
  // The row goes to the dead-letter exchange in any case; its value only when it fits.
  if (message.body && message.body->size() > kMaxMessageBytes) message.body.reset();
  return Enqueue(std::move(message));
}

std::size_t RabbitMqSink::Enqueue(AmqpMessage message) {
  const std::size_t bytes = message.bytes;
  unsent_.push_back(std::move(message));
  // One flush per io_context turn publishes every event the relay handed over in that turn.
  if (!flush_posted_) {
    flush_posted_ = true;
    boost::asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
      if (alive.lock()) Flush();
    });
  }
  return bytes;
}

void RabbitMqSink::StartConnect() {
  boost::asio::post(worker_, [this, settings = settings_, alive = std::weak_ptr<int>(alive_)] {
    amqp_connection_state_t connection = nullptr;
    std::string error;
    try {
      connection = Open(settings);
      PrepareChannel(connection, settings);
    } catch (const SinkError& failure) {
      if (connection != nullptr) amqp_destroy_connection(std::exchange(connection, nullptr));
      error = failure.what();
    }
    boost::asio::post(io_, [this, connection, error, alive] {
      if (!alive.lock()) {
        if (connection != nullptr) amqp_destroy_connection(connection);
        return;
      }
      connection != nullptr ? OnConnected(connection) : OnConnectFailed(error);
    });
  });
}

void RabbitMqSink::OnConnected(amqp_connection_state_t_* connection) {
  connection_ = connection;
  backoff_ = kFirstBackoff;
  next_sequence_ = 1;
  blocked_ = false;
  socket_.assign(amqp_get_sockfd(connection_));
  Log().info("connected to RabbitMQ at {}", settings_.Address());
  ArmRead();
  ArmHeartbeat();
  Flush();
  // Frames that arrived with the handshake's replies sit in rabbitmq-c's buffer already,
  // where no readiness of the socket would announce them.
  ServeFrames();
}

void RabbitMqSink::OnConnectFailed(const std::string& error) {
  Log().warn("{}; retrying in {} ms", error, backoff_.count());
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  retry_timer_.async_wait([this](const boost::system::error_code& cancelled) {
    if (!cancelled) StartConnect();
  });
}

void RabbitMqSink::Flush() {
  flush_posted_ = false;
  if (connection_ == nullptr || blocked_) return;
  while (!unsent_.empty()) {
    if (const int status = SendMessage(connection_, unsent_.front()); status != AMQP_STATUS_OK) {
      Lose(std::string("publishing to RabbitMQ failed: ") + amqp_error_string2(status));
      return;
    }
    unconfirmed_.push_back(Unconfirmed{next_sequence_++, std::move(unsent_.front()), std::nullopt});
    unsent_.pop_front();
  }
}

void RabbitMqSink::ArmRead() {
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& error) {
                       if (error) return;  // released: the connection ended
                       ServeFrames();
                       if (connection_ != nullptr) ArmRead();
                     });
}

void RabbitMqSink::ArmHeartbeat() {
  if (settings_.heartbeat.count() == 0) return;
  // rabbitmq-c sends a due heartbeat, and notices a silent broker, only while it reads frames.
  heartbeat_timer_.expires_after(
      std::max<std::chrono::milliseconds>(settings_.heartbeat / 4, std::chrono::seconds(1)));
  heartbeat_timer_.async_wait([this](const boost::system::error_code& cancelled) {
    if (cancelled || connection_ == nullptr) return;
    ServeFrames();
    if (connection_ != nullptr) ArmHeartbeat();
  });
}

void RabbitMqSink::ServeFrames() {
  while (connection_ != nullptr) {
    amqp_frame_t frame{};
    timeval no_wait{0, 0};
    const int status = amqp_simple_wait_frame_noblock(connection_, &frame, &no_wait);
    if (status == AMQP_STATUS_TIMEOUT) break;
    if (status != AMQP_STATUS_OK) {
      Lose(std::string("reading from RabbitMQ failed: ") + amqp_error_string2(status));
      return;
    }
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    const void* decoded = frame.payload.method.decoded;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(decoded);
        OnConfirm(ack->delivery_tag, ack->multiple != 0, true);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<const amqp_basic_nack_t*>(decoded);
        OnConfirm(nack->delivery_tag, nack->multiple != 0, false);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: {
        const auto* returned = static_cast<const amqp_basic_return_t*>(decoded);
        OnReturn(frame.channel, Text(returned->exchange), Text(returned->routing_key),
                 std::to_string(returned->reply_code) + " " + Text(returned->reply_text));
        break;
      }
      case AMQP_CHANNEL_CLOSE_METHOD:
        Lose(Closed("RabbitMQ closed the channel", *static_cast<const amqp_channel_close_t*>(decoded)));
        return;
      case AMQP_CONNECTION_CLOSE_METHOD:
        Lose(Closed("RabbitMQ closed the connection", *static_cast<const amqp_connection_close_t*>(decoded)));
        return;
      case AMQP_CONNECTION_BLOCKED_METHOD:
        blocked_ = true;
        Log().warn("RabbitMQ blocked publishing ({}); events wait until it unblocks",
                   Text(static_cast<const amqp_connection_blocked_t*>(decoded)->reason));
        break;
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        blocked_ = false;
        Log().info("RabbitMQ unblocked publishing");
        Flush();
        break;
      default:
        break;
    }
  }
  if (connection_ != nullptr) amqp_maybe_release_buffers(connection_);
}

void RabbitMqSink::OnReturn(std::uint16_t channel, const std::string& exchange, const std::string& routing_key,
                            const std::string& reply) {
  // The returned content follows its basic.return at once.
  amqp_message_t content{};
  const amqp_rpc_reply_t read = amqp_read_message(connection_, channel, &content, 0);
  if (read.reply_type != AMQP_RESPONSE_NORMAL) {
    Lose("reading a returned message from RabbitMQ failed: " + Describe(read));
    return;
  }
  const std::string message_id = (content.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0
                                     ? Text(content.properties.message_id)
                                     : std::string();
  amqp_destroy_message(&content);
  // Returns carry no delivery tag, but they come before the message's confirm, and the event
  // id, exchange and routing key name the first unconfirmed message that matches.
  const auto it = std::find_if(unconfirmed_.begin(), unconfirmed_.end(), [&](const Unconfirmed& entry) {
    return !entry.returned && entry.message.message_id == message_id && entry.message.exchange == exchange &&
           entry.message.routing_key == routing_key;
  });
  if (it != unconfirmed_.end()) it->returned = reply;
}

void RabbitMqSink::OnConfirm(std::uint64_t sequence, bool multiple, bool ack) {
  while (!unconfirmed_.empty()) {
    auto it = multiple ? unconfirmed_.begin()
                       : std::find_if(unconfirmed_.begin(), unconfirmed_.end(),
                                      [sequence](const Unconfirmed& entry) { return entry.sequence == sequence; });
    if (it == unconfirmed_.end() || it->sequence > sequence) return;
    Unconfirmed entry = std::move(*it);
    unconfirmed_.erase(it);
    if (!ack) {
      Report(entry.message, GaveUp{"RabbitMQ nacked the message (a queue refused it, e.g. x-overflow "
                                   "reject-publish)"});
    } else if (!entry.returned) {
      Report(entry.message, Delivered{entry.message.routing_key});
    } else if (entry.message.dead_letter) {
      Report(entry.message,
             Refused{"RabbitMQ returned the dead-letter message (" + *entry.returned +
                     "): no queue is bound to rabbitmq.dead_letter_exchange \"" + entry.message.exchange +
                     "\" for routing key \"" + entry.message.routing_key + "\""});
    } else {
      outbox::PoisonRow row = UnroutableRow(entry.message, *entry.returned);
      std::string error = row.detail;
      Report(entry.message, RefusedAsPoison{std::move(error), std::move(row)});
    }
    if (!multiple) return;
  }
}

void RabbitMqSink::Lose(const std::string& reason) {
  Log().warn("{}; {} unconfirmed and {} unsent messages are sent again from the slot after reconnecting", reason,
             unconfirmed_.size(), unsent_.size());
  static_cast<void>(socket_.release());
  heartbeat_timer_.cancel();
  amqp_destroy_connection(std::exchange(connection_, nullptr));
  blocked_ = false;
  // Later messages must not overtake the ones sent again: withdraw every one of them too.
  std::deque<Unconfirmed> unconfirmed = std::exchange(unconfirmed_, {});
  std::deque<AmqpMessage> unsent = std::exchange(unsent_, {});
  for (Unconfirmed& entry : unconfirmed) Report(entry.message, GaveUp{reason});
  for (AmqpMessage& message : unsent) Report(message, Withdrawn{reason});
  OnConnectFailed("reconnecting to RabbitMQ");
}

void RabbitMqSink::Report(const AmqpMessage& message, DeliveryOutcome outcome) const {
  if (!handlers_.on_delivery) return;
  DeliveryReport report;
  report.tag = message.tag;
  report.bytes = message.bytes;
  report.dead_letter = message.dead_letter;
  report.outcome = std::move(outcome);
  handlers_.on_delivery(report);
}

std::vector<std::string> RabbitMqSink::Probe(const RabbitMqSettings& settings,
                                             const std::vector<std::string>& exchanges) {
  amqp_connection_state_t connection = nullptr;
  try {
    connection = Open(settings);
  } catch (const SinkError& error) {
    return {error.what()};
  }
  // Passive declares only: check creates nothing, the stream the sink would declare included.
  std::vector<std::pair<std::string, bool>> names;  // name, is a queue
  for (const std::string& exchange : exchanges) names.emplace_back(exchange, false);
  if (!settings.routing.stream.empty()) names.emplace_back(settings.routing.stream, true);
  std::vector<std::string> problems;
  for (const auto& [name, queue] : names) {
    if (queue) {
      amqp_queue_declare(connection, kChannel, Bytes(name), /*passive=*/1, 0, 0, 0, amqp_empty_table);
    } else {
      amqp_exchange_declare(connection, kChannel, Bytes(name), amqp_cstring_bytes("topic"), /*passive=*/1, 0, 0, 0,
                            amqp_empty_table);
    }
    const amqp_rpc_reply_t reply = amqp_get_rpc_reply(connection);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) continue;
    problems.push_back((queue ? "stream \"" : "exchange \"") + name + "\": " + Describe(reply));
    // A failed passive declare closes the channel: answer and open the next one.
    if (reply.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || reply.reply.id != AMQP_CHANNEL_CLOSE_METHOD) break;
    amqp_channel_close_ok_t close_ok{};
    static_cast<void>(amqp_send_method(connection, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok));
    amqp_channel_open(connection, kChannel);
    if (amqp_get_rpc_reply(connection).reply_type != AMQP_RESPONSE_NORMAL) break;
  }
  static_cast<void>(amqp_connection_close(connection, AMQP_REPLY_SUCCESS));
  amqp_destroy_connection(connection);
  return problems;
}

}  // namespace outbox_relay::sinks
