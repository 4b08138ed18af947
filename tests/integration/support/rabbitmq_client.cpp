#include "support/rabbitmq_client.hpp"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <iterator>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "support/harness_env.hpp"
#include "support/oracle.hpp"

namespace outbox_relay::it {
namespace {

constexpr amqp_channel_t kChannel = 1;

std::string Text(amqp_bytes_t bytes) { return {static_cast<const char*>(bytes.bytes), bytes.len}; }
amqp_bytes_t Bytes(const std::string& text) { return amqp_bytes_t{text.size(), const_cast<char*>(text.data())}; }

void Expect(const amqp_rpc_reply_t& reply, const std::string& what) {
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
    throw std::runtime_error(what + ": " + amqp_error_string2(reply.library_error));
  }
  throw std::runtime_error(what + ": the broker refused it (method " + std::to_string(reply.reply.id) + ")");
}

// One message as a record (see Take), and its message_id property.
std::pair<KafkaRecord, std::optional<std::string>> RecordOf(const std::string& routing_key,
                                                            const amqp_message_t& message) {
  KafkaRecord record;
  record.topic = routing_key;
  record.value = Text(message.body);
  const amqp_basic_properties_t& properties = message.properties;
  if ((properties._flags & AMQP_BASIC_TIMESTAMP_FLAG) != 0) {
    record.timestamp_ms = static_cast<std::int64_t>(properties.timestamp) * 1000;
  }
  const std::optional<std::string> message_id = (properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0
                                                    ? std::optional(Text(properties.message_id))
                                                    : std::nullopt;
  if ((properties._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
    for (int i = 0; i < properties.headers.num_entries; ++i) {
      const amqp_table_entry_t& entry = properties.headers.entries[i];
      const std::string name = Text(entry.key);
      const std::string value =
          entry.value.kind == AMQP_FIELD_KIND_UTF8 || entry.value.kind == AMQP_FIELD_KIND_BYTES
              ? Text(entry.value.value.bytes)
              : std::string();
      if (name == "key") {
        record.key = value;
      } else {
        record.headers.emplace_back(name, value);
      }
    }
  }
  return {std::move(record), message_id};
}

}  // namespace

RabbitMqEnv StartRabbitMq(const std::string& log_dir) {
  RunHarnessCommand("start-rabbitmq", log_dir, std::chrono::minutes(3));
  const auto values = ReadEnvFile(Harness().Get("HARNESS_DIR") + "/rabbitmq.env");
  return RabbitMqEnv{values.at("RABBITMQ_HOST"), std::stoi(values.at("RABBITMQ_PORT")),
                     std::stoi(values.at("RABBITMQ_TLS_PORT")), values.at("RABBITMQ_USER"),
                     values.at("RABBITMQ_PASSWORD")};
}

RabbitMqClient::RabbitMqClient(const RabbitMqEnv& env) : connection_(amqp_new_connection()) {
  amqp_socket_t* socket = amqp_tcp_socket_new(connection_);
  if (socket == nullptr || amqp_socket_open(socket, env.host.c_str(), env.port) != AMQP_STATUS_OK) {
    amqp_destroy_connection(connection_);
    throw std::runtime_error("cannot connect to RabbitMQ at " + env.host + ":" + std::to_string(env.port));
  }
  Expect(amqp_login(connection_, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, env.user.c_str(),
                    env.password.c_str()),
         "RabbitMQ login");
  amqp_channel_open(connection_, kChannel);
  Expect(amqp_get_rpc_reply(connection_), "opening a channel");
}

RabbitMqClient::~RabbitMqClient() {
  static_cast<void>(amqp_connection_close(connection_, AMQP_REPLY_SUCCESS));
  amqp_destroy_connection(connection_);
}

void RabbitMqClient::DeclareExchange(const std::string& exchange, const std::string& type) {
  amqp_exchange_declare(connection_, kChannel, Bytes(exchange), Bytes(type), 0, 1, 0, 0, amqp_empty_table);
  Expect(amqp_get_rpc_reply(connection_), "declaring exchange " + exchange);
}

void RabbitMqClient::DeclareQueue(const std::string& queue, const std::string& exchange,
                                  const std::string& binding_key) {
  amqp_queue_declare(connection_, kChannel, Bytes(queue), 0, 1, 0, 0, amqp_empty_table);
  Expect(amqp_get_rpc_reply(connection_), "declaring queue " + queue);
  amqp_queue_bind(connection_, kChannel, Bytes(queue), Bytes(exchange), Bytes(binding_key), amqp_empty_table);
  Expect(amqp_get_rpc_reply(connection_), "binding queue " + queue);
}

void RabbitMqClient::DeleteExchange(const std::string& exchange) {
  amqp_exchange_delete(connection_, kChannel, Bytes(exchange), 0);
  Expect(amqp_get_rpc_reply(connection_), "deleting exchange " + exchange);
}

void RabbitMqClient::DeleteQueue(const std::string& queue) {
  amqp_queue_delete(connection_, kChannel, Bytes(queue), 0, 0);
  Expect(amqp_get_rpc_reply(connection_), "deleting queue " + queue);
}

std::vector<KafkaRecord> RabbitMqClient::Take(const std::string& queue) {
  std::vector<KafkaRecord> records;
  for (;;) {
    const amqp_rpc_reply_t reply = amqp_basic_get(connection_, kChannel, Bytes(queue), /*no_ack=*/1);
    Expect(reply, "basic.get from " + queue);
    if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) break;
    const auto* got = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
    const std::string routing_key = Text(got->routing_key);
    amqp_message_t message{};
    Expect(amqp_read_message(connection_, kChannel, &message, 0), "reading a message of " + queue);
    auto [record, message_id] = RecordOf(routing_key, message);
    Count(record, message_id);
    records.push_back(std::move(record));
    amqp_destroy_message(&message);
    amqp_maybe_release_buffers(connection_);
  }
  return records;
}

std::vector<KafkaRecord> RabbitMqClient::ReadStream(const std::string& stream, std::size_t count,
                                                    std::chrono::milliseconds timeout) {
  // Streams take no basic.get: a consumer with a prefetch limit and manual acks, from the start.
  amqp_basic_qos(connection_, kChannel, 0, 1000, 0);
  Expect(amqp_get_rpc_reply(connection_), "basic.qos");
  amqp_table_entry_t offset{};
  offset.key = amqp_cstring_bytes("x-stream-offset");
  offset.value.kind = AMQP_FIELD_KIND_UTF8;
  offset.value.value.bytes = amqp_cstring_bytes("first");
  const amqp_basic_consume_ok_t* consumer = amqp_basic_consume(
      connection_, kChannel, Bytes(stream), amqp_empty_bytes, 0, 0, 0, amqp_table_t{1, &offset});
  Expect(amqp_get_rpc_reply(connection_), "consuming stream " + stream);
  const std::string tag = Text(consumer->consumer_tag);
  std::vector<KafkaRecord> records;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
    timeval wait{1, 0};
    amqp_envelope_t envelope{};
    const amqp_rpc_reply_t reply = amqp_consume_message(connection_, &envelope, &wait, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT)
      continue;
    Expect(reply, "reading stream " + stream);
    auto [record, message_id] = RecordOf(Text(envelope.routing_key), envelope.message);
    Count(record, message_id);
    records.push_back(std::move(record));
    amqp_basic_ack(connection_, kChannel, envelope.delivery_tag, 0);
    amqp_destroy_envelope(&envelope);
    amqp_maybe_release_buffers(connection_);
  }
  amqp_basic_cancel(connection_, kChannel, Bytes(tag));
  Expect(amqp_get_rpc_reply(connection_), "cancelling the stream consumer");
  return records;
}

void RabbitMqClient::Count(KafkaRecord& record, const std::optional<std::string>& message_id) {
  record.offset = taken_++;
  if (message_id != record.Header("id")) ++message_id_mismatches_;
}

std::size_t TakeUntilDelivered(RabbitMqClient& client, const std::string& queue,
                               const std::vector<std::string>& wanted, std::chrono::milliseconds timeout,
                               std::vector<KafkaRecord>& records) {
  const auto take = [&]() -> const std::vector<KafkaRecord>& {
    std::vector<KafkaRecord> taken = client.Take(queue);
    records.insert(records.end(), std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end()));
    return records;
  };
  return WaitForDelivery(take, queue, std::unordered_set<std::string>(wanted.begin(), wanted.end()), timeout,
                         nullptr);
}

}  // namespace outbox_relay::it
