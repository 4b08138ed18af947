// KafkaSink's event pump: records handed to librdkafka, and librdkafka's events (delivery
// reports, errors, logs, statistics) served on the io_context thread.

#include "sinks/kafka_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "base/logging.hpp"
#include "sinks/kafka_detail.hpp"

namespace outbox_relay::sinks {

spdlog::logger& detail::Log() { return base::Logger("sinks"); }

namespace {

using detail::Log;

}  // namespace

KafkaSink::KafkaSink(boost::asio::io_context& io, const std::map<std::string, std::string>& properties,
                     std::optional<KafkaTransactionSettings> transactions)
    : wakeup_(io) {
  auto conf = detail::MakeProducerConf(properties, transactions);
  if (transactions) {
    KafkaCheckpointStore checkpoints(properties, *transactions);
    transactions_ = Transactional{std::move(*transactions), std::move(checkpoints)};
  }
  std::array<char, 512> error{};
  producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
  if (!producer_) throw SinkError(std::string("cannot create Kafka producer: ") + error.data());
  // rd_kafka_new took ownership of the conf object only because it succeeded.
  static_cast<void>(conf.release());

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
  // What rd_kafka_new already queued (configuration warnings, debug logs) left the queue
  // non-empty without a byte, so no later event would write one: serve it once up front.
  if (::write(wakeup_write_fd_, &kWakeByte, 1) != 1) {
    throw SinkError(std::string("cannot signal wake-up pipe: ") + std::strerror(errno));
  }
  ArmWakeup();
}

KafkaSink::~KafkaSink() {
  worker_.join();
  rd_kafka_queue_io_event_enable(main_queue_.get(), -1, nullptr, 0);
  boost::system::error_code ignored;
  wakeup_.close(ignored);
  ::close(wakeup_write_fd_);
  // Whatever is still queued was never acknowledged to PostgreSQL; it is re-sent on restart.
  const int remaining = rd_kafka_outq_len(producer_.get());
  if (remaining > 0) {
    Log().warn(
        "dropping {} undelivered messages and requests at shutdown; unconfirmed events are "
        "re-sent from the slot",
        remaining);
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  handlers_ = {};
  try {
    ServeEvents();  // the purge reports, so rd_kafka_destroy does not wait for them
  } catch (const std::exception& error) {
    Log().warn("serving librdkafka events at shutdown failed: {}", error.what());
  }
  main_queue_.reset();
}

void KafkaSink::SetHandlers(Handlers handlers) { handlers_ = std::move(handlers); }

rd_kafka_resp_err_t KafkaSink::Produce(const std::string& topic, std::optional<std::string_view> key,
                                       std::uint64_t opaque) {
  const outbox::EncodedEvent& record = record_;
  KafkaHeadersHandle headers(rd_kafka_headers_new(record.headers.size()));
  for (const auto& [name, value] : record.headers) {
    rd_kafka_header_add(headers.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                        static_cast<ssize_t>(value.size()));
  }
  const void* value = record.value ? record.value->data() : nullptr;
  const std::size_t value_size = record.value ? record.value->size() : 0;
  const void* key_data = key ? key->data() : nullptr;
  const std::size_t key_size = key ? key->size() : 0;
  const rd_kafka_resp_err_t error = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key_data, key_size),
      RD_KAFKA_V_VALUE(const_cast<void*>(value), value_size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_HEADERS(headers.get()),
      RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::uintptr_t>(opaque))), RD_KAFKA_V_END);
  // librdkafka owns the headers once producev succeeded.
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR) static_cast<void>(headers.release());
  return error;
}

std::size_t KafkaSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  outbox::EncodeEvent(event, record_);
  const rd_kafka_resp_err_t error = Produce(event.topic, event.key, tag);
  if (ClassifyKafkaError(error) == KafkaErrorCategory::kTooLarge) {
    throw RecordTooLargeError("the record for topic " + event.topic + " (key " + std::to_string(event.key.size()) +
                              " bytes, value " + std::to_string(record_.value ? record_.value->size() : 0) +
                              " bytes, plus headers) is over kafka.message.max.bytes");
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The flow cap sits below librdkafka's queue limits, so a refusal here is not back-pressure.
    detail::ThrowNotQueued("cannot queue event " + event.id + " for topic " + event.topic, error);
  }
  return event.key.size() + (record_.value ? record_.value->size() : 0);
}

std::size_t KafkaSink::PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                         std::uint64_t tag) {
  outbox::EncodeDeadLetter(poison, record_);
  rd_kafka_resp_err_t error = Produce(topic, poison.key, tag | detail::kDeadLetterTagBit);
  if (ClassifyKafkaError(error) == KafkaErrorCategory::kTooLarge && record_.value) {
    // The row goes to the dead-letter topic in any case; its value only when it fits.
    record_.value = std::nullopt;
    error = Produce(topic, poison.key, tag | detail::kDeadLetterTagBit);
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    detail::ThrowNotQueued("cannot queue the dead-letter record of " + poison.Describe() + " for topic " + topic +
                               " (check dead_letter.topic)",
                           error);
  }
  return (poison.key ? poison.key->size() : 0) + (record_.value ? record_.value->size() : 0);
}

void KafkaSink::OnDelivery(const rd_kafka_message_t& message) {
  if (!handlers_.on_delivery || KafkaCheckpointStore::IsCheckpoint(message)) return;
  const DeliveryReport report = detail::TranslateDeliveryReport(message);
  // The idempotent producer moves on past a record it gave up on (a new epoch), so records
  // queued after it would overtake it when Kafka is back: withdraw them all, to be re-sent in
  // order. A transaction needs no such care: the failed record aborts the whole of it.
  if (std::holds_alternative<GaveUp>(report.outcome) && !transactions_) {
    rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  handlers_.on_delivery(report);
}

void KafkaSink::OnError(rd_kafka_event_t& event) {
  const auto code = rd_kafka_event_error(&event);
  if (rd_kafka_event_error_is_fatal(&event)) {
    std::array<char, 512> reason{};
    rd_kafka_fatal_error(producer_.get(), reason.data(), reason.size());
    if (handlers_.on_failure) {
      handlers_.on_failure(std::string("fatal Kafka producer error: ") + reason.data() +
                           detail::FencedCause(code));
    }
    return;
  }
  switch (ClassifyKafkaError(code)) {
    case KafkaErrorCategory::kAllBrokersDown:
      if (connected_) Log().warn("all Kafka brokers are down: {}", rd_kafka_event_error_string(&event));
      connected_ = false;
      return;
    // librdkafka keeps retrying these, but only a config change fixes them: name the keys.
    case KafkaErrorCategory::kAuthentication:
      Log().error(
          "Kafka refused to authenticate the relay: {}; check kafka.sasl.mechanism, kafka.sasl.username "
          "and kafka.sasl.password",
          rd_kafka_event_error_string(&event));
      return;
    case KafkaErrorCategory::kTls:
      Log().error(
          "TLS with Kafka failed: {}; check kafka.ssl.ca.location (the CA that signed the brokers' "
          "certificates) and that kafka.bootstrap.servers names hosts those certificates cover",
          rd_kafka_event_error_string(&event));
      return;
    case KafkaErrorCategory::kNoError:
    case KafkaErrorCategory::kFenced:
    case KafkaErrorCategory::kFatal:
    case KafkaErrorCategory::kTimedOut:
    case KafkaErrorCategory::kTooLarge:
    case KafkaErrorCategory::kPurged:
    case KafkaErrorCategory::kNotAuthorized:
    case KafkaErrorCategory::kUnknownTopic:
    case KafkaErrorCategory::kAcksRefused:
    case KafkaErrorCategory::kAlreadyExists:
    case KafkaErrorCategory::kPartitionEnd:
    case KafkaErrorCategory::kInvalidState:
    case KafkaErrorCategory::kOther:
      break;
  }
  Log().warn("Kafka: {} ({})", rd_kafka_event_error_string(&event), rd_kafka_err2name(code));
}

void KafkaSink::OnStats(const char* json) {
  // Connected while at least one real broker (bootstrap placeholders have nodeid -1) is up.
  const auto stats = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!stats.is_object() || !stats.contains("brokers")) return;
  bool up = false;
  for (const auto& [name, broker] : stats["brokers"].items()) {
    up = up || (broker.value("nodeid", -1) >= 0 && broker.value("state", "") == "UP");
  }
  if (up != connected_) Log().info(up ? "connected to Kafka" : "no Kafka broker is up");
  connected_ = up;
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
  if (wakeup_.is_open()) {
    while (::read(wakeup_.native_handle(), drain.data(), drain.size()) > 0) {
    }
  }
  while (rd_kafka_event_t* event = rd_kafka_queue_poll(main_queue_.get(), 0)) {
    switch (rd_kafka_event_type(event)) {
      case RD_KAFKA_EVENT_DR:
        // One event carries a batch of reports.
        while (const rd_kafka_message_t* message = rd_kafka_event_message_next(event)) OnDelivery(*message);
        break;
      case RD_KAFKA_EVENT_ERROR:
        OnError(*event);
        break;
      case RD_KAFKA_EVENT_STATS:
        OnStats(rd_kafka_event_stats(event));
        break;
      case RD_KAFKA_EVENT_LOG: {
        const char* facility = nullptr;
        const char* text = nullptr;
        int level = 0;
        rd_kafka_event_log(event, &facility, &text, &level);
        // librdkafka uses syslog levels.
        const auto spd_level = level <= 3   ? spdlog::level::err
                               : level == 4 ? spdlog::level::warn
                               : level <= 6 ? spdlog::level::info
                                            : spdlog::level::debug;
        Log().log(spd_level, "librdkafka {}: {}", facility, text);
        break;
      }
      default:
        break;
    }
    rd_kafka_event_destroy(event);
  }
}

}  // namespace outbox_relay::sinks
