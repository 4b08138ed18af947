#include "sinks/kafka_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "config/logging.hpp"

namespace outbox_relay::sinks {

namespace {

spdlog::logger& Log() { return config::Logger("sinks"); }

// The relay's delivery contract rests on these; config validation refuses weaker values.
const std::map<std::string, std::string> kDefaults = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    // Same partition for the same key as the Java client, so Java and Kafka Streams consumers
    // co-partition with these topics.
    {"partitioner", "murmur2_random"},
    {"client.id", "outbox-relay"},
    // Logs and errors go through the main queue, served on the io_context thread.
    {"log.queue", "true"},
};

void DeliveryCallback(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  static_cast<KafkaSink*>(opaque)->OnDelivery(*message);
}

void ErrorCallback(rd_kafka_t*, int error, const char* reason, void* opaque) {
  static_cast<KafkaSink*>(opaque)->OnError(error, reason);
}

void LogCallback(const rd_kafka_t* producer, int level, const char* facility, const char* message) {
  static_cast<KafkaSink*>(rd_kafka_opaque(producer))->OnLog(level, facility, message);
}

KafkaConfHandle MakeConf(const std::map<std::string, std::string>& properties, KafkaSink* sink) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  auto set = [&](const std::string& key, const std::string& value) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size()) !=
        RD_KAFKA_CONF_OK) {
      throw SinkError("kafka." + key + ": " + error.data());
    }
  };
  for (const auto& [key, value] : kDefaults) set(key, value);
  for (const auto& [key, value] : properties) set(key, value);
  rd_kafka_conf_set_opaque(conf.get(), sink);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  return conf;
}

}  // namespace

KafkaSink::KafkaSink(boost::asio::io_context& io,
                     const std::map<std::string, std::string>& properties)
    : io_(io), wakeup_(io) {
  auto conf = MakeConf(properties, this);
  std::array<char, 512> error{};
  producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
  if (!producer_) throw SinkError(std::string("cannot create Kafka producer: ") + error.data());
  // rd_kafka_new took ownership of the conf object only because it succeeded.
  conf.release();

  main_queue_.reset(rd_kafka_queue_get_main(producer_.get()));
  rd_kafka_set_log_queue(producer_.get(), main_queue_.get());
  std::array<int, 2> fds{};
  if (pipe2(fds.data(), O_NONBLOCK | O_CLOEXEC) != 0) {
    throw SinkError(std::string("cannot create wake-up pipe: ") + std::strerror(errno));
  }
  wakeup_.assign(fds[0]);
  wakeup_write_fd_ = fds[1];
  // librdkafka writes a byte whenever the main queue goes from empty to non-empty.
  static constexpr char kWakeByte = 1;
  rd_kafka_queue_io_event_enable(main_queue_.get(), wakeup_write_fd_, &kWakeByte, 1);
  ArmWakeup();
}

KafkaSink::~KafkaSink() {
  rd_kafka_queue_io_event_enable(main_queue_.get(), -1, nullptr, 0);
  boost::system::error_code ignored;
  wakeup_.close(ignored);
  ::close(wakeup_write_fd_);
  // Whatever is still queued was never acknowledged to PostgreSQL; it is re-sent on restart.
  const int remaining = rd_kafka_outq_len(producer_.get());
  if (remaining > 0) {
    Log().warn("dropping {} undelivered events at shutdown; they will be re-sent from the slot", remaining);
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  main_queue_.reset();
  // Serve the purge reports so rd_kafka_destroy does not wait for them; nobody listens now.
  handlers_ = {};
  rd_kafka_poll(producer_.get(), 0);
}

void KafkaSink::SetHandlers(Handlers handlers) { handlers_ = std::move(handlers); }

void KafkaSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  KafkaHeadersHandle headers(rd_kafka_headers_new(4 + event.headers.size()));
  auto add = [&](const std::string& name, const std::string& value) {
    rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()),
                        value.data(), static_cast<ssize_t>(value.size()));
  };
  add("id", event.id);
  add("type", event.type);
  add("aggregate_type", event.aggregate_type);
  add("commit_lsn", event.commit_lsn);
  for (const auto& [name, value] : event.headers) add(name, value);

  const void* value = event.payload ? event.payload->data() : nullptr;
  const std::size_t value_size = event.payload ? event.payload->size() : 0;
  const rd_kafka_resp_err_t error = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_TOPIC(event.topic.c_str()),
      RD_KAFKA_V_KEY(event.aggregate_id.data(), event.aggregate_id.size()),
      RD_KAFKA_V_VALUE(const_cast<void*>(value), value_size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_HEADERS(headers.get()),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(tag))), RD_KAFKA_V_END);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The flow cap sits below librdkafka's queue limits, so a refusal here is not back-pressure.
    throw SinkError("cannot queue event " + event.id + " for topic " + event.topic + ": " +
                    rd_kafka_err2str(error));
  }
  // librdkafka owns the headers once producev succeeded.
  headers.release();
}

void KafkaSink::OnDelivery(const rd_kafka_message_t& message) {
  if (!handlers_.on_delivery) return;
  DeliveryReport report{static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(message._private)),
                        message.key_len + message.len, std::nullopt};
  if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    report.error = std::string(rd_kafka_topic_name(message.rkt)) + ": " + rd_kafka_err2str(message.err);
  } else if (!connected_) {
    connected_ = true;
    Log().info("connected to Kafka");
  }
  handlers_.on_delivery(report);
}

void KafkaSink::OnError(int error, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(error);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> detail{};
    rd_kafka_fatal_error(producer_.get(), detail.data(), detail.size());
    if (handlers_.on_failure) handlers_.on_failure(std::string("fatal Kafka producer error: ") + detail.data());
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    if (connected_) Log().warn("all Kafka brokers are down: {}", reason);
    connected_ = false;
    return;
  }
  Log().warn("Kafka: {} ({})", reason, rd_kafka_err2name(code));
}

void KafkaSink::OnLog(int level, const char* facility, const char* message) {
  // librdkafka uses syslog levels.
  const auto spd_level = level <= 3 ? spdlog::level::err
                         : level == 4 ? spdlog::level::warn
                         : level <= 6 ? spdlog::level::info
                                      : spdlog::level::debug;
  Log().log(spd_level, "librdkafka {}: {}", facility, message);
}

void KafkaSink::ArmWakeup() {
  wakeup_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [this](const boost::system::error_code& error) {
                       if (error) return;  // closed at destruction
                       ServeEvents();
                       ArmWakeup();
                     });
}

void KafkaSink::ServeEvents() {
  std::array<char, 64> drain{};
  while (::read(wakeup_.native_handle(), drain.data(), drain.size()) > 0) {
  }
  rd_kafka_poll(producer_.get(), 0);
}

}  // namespace outbox_relay::sinks
