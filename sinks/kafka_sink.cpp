#include "sinks/kafka_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "base/logging.hpp"

namespace outbox_relay::sinks {

namespace {

using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto kAdminTimeout = std::chrono::seconds(30);
constexpr auto kCheckpointReadTimeout = std::chrono::seconds(30);
constexpr int kCommitAttempts = 10;
// Marks the checkpoint record, whose delivery report is not an event's.
char checkpoint_marker;
// Set in the opaque of dead-letter records, so their reports are told apart whatever topic
// events are routed to. Tags (transaction counts, event indexes) never come near it.
constexpr std::uint64_t kDeadLetterTagBit = std::uint64_t{1} << 63;

spdlog::logger& Log() { return base::Logger("sinks"); }

}  // namespace

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

namespace {

int Millis(std::chrono::milliseconds duration) { return static_cast<int>(duration.count()); }

void Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  std::array<char, 512> error{};
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error.data(), error.size()) !=
      RD_KAFKA_CONF_OK) {
    throw SinkError("kafka." + key + ": " + error.data());
  }
}

KafkaConfHandle MakeProducerConf(const std::map<std::string, std::string>& properties,
                                 const std::optional<KafkaTransactionSettings>& transactions) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  for (const auto& [key, value] : ProducerDefaults()) Set(conf.get(), key, value);
  if (transactions) {
    Set(conf.get(), "transactional.id", transactions->transactional_id);
    Set(conf.get(), "transaction.timeout.ms", std::to_string(transactions->transaction_timeout.count()));
    // A message must give up before its transaction does, or its outcome is ambiguous.
    Set(conf.get(), "message.timeout.ms", std::to_string(transactions->transaction_timeout.count() * 9 / 10));
  }
  for (const auto& [key, value] : properties) Set(conf.get(), key, value);
  rd_kafka_conf_set_events(conf.get(), RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_LOG |
                                          RD_KAFKA_EVENT_STATS);
  return conf;
}

// Owns a librdkafka error object and says what kind it is.
struct TxnError {
  base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy> error;
  explicit operator bool() const { return error != nullptr; }
  std::string Text() const { return rd_kafka_error_string(error.get()); }
  bool Fatal() const { return rd_kafka_error_is_fatal(error.get()) != 0; }
  bool Retriable() const { return rd_kafka_error_is_retriable(error.get()) != 0; }
  bool RequiresAbort() const { return rd_kafka_error_txn_requires_abort(error.get()) != 0; }
};

bool Fenced(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
}

// Both ways a transactional producer gets fenced, for the error text.
constexpr std::string_view kFencedCause =
    " (fenced: a newer producer claimed this transactional id, or the broker aborted the "
    "transaction because it outlived exactly_once.transaction_timeout_ms)";

// The producer is done for: fatal, or a transaction outcome still unknown after every attempt.
[[noreturn]] void ThrowBroken(const std::string& what, const TxnError& error) {
  throw SinkBrokenError(what + ": " + error.Text() +
                        (Fenced(rd_kafka_error_code(error.error.get())) ? std::string(kFencedCause) : ""));
}

// rd_kafka_producev refused a record: after a fatal error it refuses everything.
[[noreturn]] void ThrowNotQueued(const std::string& what, rd_kafka_resp_err_t code) {
  const std::string message = what + ": " + rd_kafka_err2str(code);
  if (code == RD_KAFKA_RESP_ERR__FATAL) throw SinkBrokenError(message);
  throw SinkError(message);
}

// Delivery errors of a producer that stopped waiting rather than of a broker that refused: the
// record may or may not be in Kafka, and may get in on a later attempt.
bool ProducerGaveUp(rd_kafka_resp_err_t code) {
  return code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || code == RD_KAFKA_RESP_ERR__TIMED_OUT ||
         code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE || code == RD_KAFKA_RESP_ERR__FATAL;
}

// Runs a blocking librdkafka call on the worker thread; the caller resumes on its own executor.
// An exception comes back as a value, so that the worker holds no reference to it once the
// caller has it: co_spawn would release its own on the worker, possibly last, and the count
// behind std::exception_ptr lives in uninstrumented libstdc++, so TSan would take that free for
// a race with the caller's reads.
template <typename Blocking>
auto OnWorker(boost::asio::thread_pool& worker, Blocking blocking)
    -> awaitable<decltype(blocking())> {
  using Result = decltype(blocking());
  struct Outcome {
    std::optional<Result> value;
    std::exception_ptr error;
  };
  Outcome outcome = co_await boost::asio::co_spawn(
      worker,
      [blocking]() -> awaitable<Outcome> {
        try {
          co_return Outcome{blocking(), nullptr};
        } catch (...) {
          co_return Outcome{std::nullopt, std::current_exception()};
        }
      },
      boost::asio::use_awaitable);
  if (outcome.error) std::rethrow_exception(std::move(outcome.error));
  co_return std::move(*outcome.value);
}

}  // namespace

KafkaSink::KafkaSink(boost::asio::io_context& io,
                     const std::map<std::string, std::string>& properties,
                     std::optional<KafkaTransactionSettings> transactions)
    : properties_(properties), transactions_(std::move(transactions)), wakeup_(io) {
  auto conf = MakeProducerConf(properties, transactions_);
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
    Log().warn("dropping {} undelivered messages and requests at shutdown; unconfirmed events are "
               "re-sent from the slot", remaining);
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
  if (error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    throw RecordTooLargeError("the record for topic " + event.topic + " (key " + std::to_string(event.key.size()) +
                              " bytes, value " + std::to_string(record_.value ? record_.value->size() : 0) +
                              " bytes, plus headers) is over kafka.message.max.bytes");
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The flow cap sits below librdkafka's queue limits, so a refusal here is not back-pressure.
    ThrowNotQueued("cannot queue event " + event.id + " for topic " + event.topic, error);
  }
  return event.key.size() + (record_.value ? record_.value->size() : 0);
}

std::size_t KafkaSink::PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                         std::uint64_t tag) {
  outbox::EncodeDeadLetter(poison, record_);
  rd_kafka_resp_err_t error = Produce(topic, poison.key, tag | kDeadLetterTagBit);
  if (error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && record_.value) {
    // The row goes to the dead-letter topic in any case; its value only when it fits.
    record_.value = std::nullopt;
    error = Produce(topic, poison.key, tag | kDeadLetterTagBit);
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ThrowNotQueued("cannot queue the dead-letter record of " + poison.Describe() + " for topic " + topic +
                       " (check dead_letter.topic)",
                   error);
  }
  return (poison.key ? poison.key->size() : 0) + (record_.value ? record_.value->size() : 0);
}

namespace {

// The first header called `name`, where the relay's own come before a row's.
std::string FirstHeader(rd_kafka_headers_t* headers, std::string_view name) {
  const void* value = nullptr;
  std::size_t size = 0;
  if (headers == nullptr ||
      rd_kafka_header_get(headers, 0, std::string(name).c_str(), &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return std::string(static_cast<const char*>(value), size);
}

// What a record Kafka refused as too large held, rebuilt from the record itself.
outbox::PoisonRow RefusedRecord(const rd_kafka_message_t& message, rd_kafka_headers_t* headers) {
  const std::string topic = rd_kafka_topic_name(message.rkt);
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kRecordTooLarge;
  poison.detail = "Kafka refused the " + std::to_string(message.key_len + message.len) + "-byte record for topic " +
                  topic + " (" + rd_kafka_err2str(message.err) + "); the topic's max.message.bytes is below it";
  poison.source = FirstHeader(headers, "source");
  poison.id = FirstHeader(headers, "id");
  poison.commit_lsn = FirstHeader(headers, "commit_lsn");
  poison.topic = topic;
  if (message.key != nullptr) poison.key.emplace(static_cast<const char*>(message.key), message.key_len);
  if (message.payload != nullptr) poison.value.emplace(static_cast<const char*>(message.payload), message.len);
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; headers != nullptr && rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                                    RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    poison.headers.emplace_back(name, value == nullptr ? std::string() : std::string(static_cast<const char*>(value), size));
  }
  return poison;
}

DeliveryOutcome Outcome(const rd_kafka_message_t& message, bool dead_letter, rd_kafka_headers_t* headers) {
  const char* topic = rd_kafka_topic_name(message.rkt);
  if (message.err == RD_KAFKA_RESP_ERR_NO_ERROR) return Delivered{topic};
  std::string error = std::string(topic) + ": " + rd_kafka_err2str(message.err);
  if (message.err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || message.err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
    return Withdrawn{std::move(error)};
  }
  if (ProducerGaveUp(message.err)) return GaveUp{std::move(error)};
  if (message.err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !dead_letter) {
    return RefusedTooLarge{std::move(error), RefusedRecord(message, headers)};
  }
  return Refused{std::move(error)};
}

}  // namespace

void KafkaSink::OnDelivery(const rd_kafka_message_t& message) {
  if (!handlers_.on_delivery || message._private == &checkpoint_marker) return;
  const auto opaque = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(message._private));
  DeliveryReport report;
  report.tag = opaque & ~kDeadLetterTagBit;
  report.bytes = message.key_len + message.len;
  rd_kafka_headers_t* headers = nullptr;
  // Only the rare reports that need them read the headers back.
  const bool dead_letter = (opaque & kDeadLetterTagBit) != 0;
  const bool too_large = message.err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
  if (dead_letter || too_large) rd_kafka_message_headers(&message, &headers);
  if (dead_letter) {
    report.dead_letter = outbox::ReasonFromCode(FirstHeader(headers, outbox::kDeadLetterReasonHeader));
  }
  report.outcome = Outcome(message, dead_letter, headers);
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
    std::array<char, 512> detail{};
    rd_kafka_fatal_error(producer_.get(), detail.data(), detail.size());
    if (handlers_.on_failure) {
      handlers_.on_failure(std::string("fatal Kafka producer error: ") + detail.data() +
                           (Fenced(code) ? std::string(kFencedCause) : ""));
    }
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    if (connected_) Log().warn("all Kafka brokers are down: {}", rd_kafka_event_error_string(&event));
    connected_ = false;
    return;
  }
  // librdkafka keeps retrying these, but only a config change fixes them: name the keys.
  if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
    Log().error("Kafka refused to authenticate the relay: {}; check kafka.sasl.mechanism, kafka.sasl.username "
                "and kafka.sasl.password",
                rd_kafka_event_error_string(&event));
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__SSL) {
    Log().error("TLS with Kafka failed: {}; check kafka.ssl.ca.location (the CA that signed the brokers' "
                "certificates) and that kafka.bootstrap.servers names hosts those certificates cover",
                rd_kafka_event_error_string(&event));
    return;
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
        const auto spd_level = level <= 3 ? spdlog::level::err
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

const KafkaTransactionSettings& KafkaSink::Transactions() const {
  if (!transactions_) throw SinkError("Kafka transactions used without exactly-once settings");
  return *transactions_;
}

awaitable<void> KafkaSink::InitTransactions() {
  const auto timeout = Transactions().transaction_timeout;
  co_await OnWorker(worker_, [this, timeout] {
    CreateCheckpointTopic();
    TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
        rd_kafka_init_transactions(producer_.get(), Millis(timeout)))};
    if (error && (error.Fatal() || !error.Retriable())) ThrowBroken("cannot initialise Kafka transactions", error);
    if (error) throw SinkError("cannot initialise Kafka transactions yet: " + error.Text(), true);
    return true;
  });
  Log().info("Kafka transactions ready (transactional.id {})", Transactions().transactional_id);
}

void KafkaSink::CreateCheckpointTopic() {
  const auto& settings = Transactions();
  std::array<char, 512> error{};
  const int replication = settings.checkpoint_replication_factor == 0
                              ? -1  // the broker's default.replication.factor (KIP-464)
                              : static_cast<int>(settings.checkpoint_replication_factor);
  KafkaNewTopicHandle topic(
      rd_kafka_NewTopic_new(settings.checkpoint_topic.c_str(), 1, replication, error.data(), error.size()));
  if (!topic) throw SinkError("exactly_once.checkpoint_topic: " + std::string(error.data()));
  // No longer than the transaction timeout either, like rd_kafka_init_transactions, so that an
  // unreachable cluster hands control back to the relay's retry loop as promptly as configured.
  const int wait = Millis(std::min<std::chrono::milliseconds>(kAdminTimeout, settings.transaction_timeout));

  // Brokers authorise CreateTopics before looking for the topic, so without this check a
  // principal lacking CREATE would fail even on a checkpoint topic created for it in advance.
  // All topics are listed because naming this one could let the broker auto-create it, uncompacted.
  const rd_kafka_metadata_t* metadata = nullptr;
  if (const auto code = rd_kafka_metadata(producer_.get(), 1, nullptr, &metadata, wait);
      code != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("cannot read Kafka cluster metadata: " + std::string(rd_kafka_err2str(code)), true);
  }
  KafkaMetadataHandle metadata_owner(metadata);
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    if (settings.checkpoint_topic == metadata->topics[i].topic &&
        metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      return;
    }
  }

  // Only the newest checkpoint per slot matters.
  rd_kafka_NewTopic_set_config(topic.get(), "cleanup.policy", "compact");
  KafkaQueueHandle queue(rd_kafka_queue_new(producer_.get()));
  rd_kafka_NewTopic_t* topics[] = {topic.get()};
  rd_kafka_CreateTopics(producer_.get(), topics, 1, nullptr, queue.get());
  KafkaEventHandle result(
      rd_kafka_queue_poll(queue.get(), wait));
  if (!result) throw SinkError("timed out creating checkpoint topic " + settings.checkpoint_topic, true);
  if (rd_kafka_event_error(result.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("cannot create checkpoint topic " + settings.checkpoint_topic + ": " +
                        rd_kafka_event_error_string(result.get()),
                    true);
  }
  std::size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(result.get()), &count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto code = rd_kafka_topic_result_error(results[i]);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log().info("created checkpoint topic {} (compacted)", settings.checkpoint_topic);
    } else if (code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
               code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED) {
      throw SinkError("not allowed to create checkpoint topic " + settings.checkpoint_topic +
                      ": grant the relay's principal CREATE on it, or create it yourself "
                      "(cleanup.policy=compact) and set exactly_once.checkpoint_topic");
    } else if (code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      throw SinkError("cannot create checkpoint topic " + settings.checkpoint_topic + ": " +
                          rd_kafka_topic_result_error_string(results[i]),
                      true);
    }
  }
}

awaitable<std::optional<std::string>> KafkaSink::ReadCheckpoint() {
  auto checkpoint = co_await OnWorker(worker_, [this] { return ReadCheckpointBlocking(); });
  Log().info("checkpoint for slot {}: {}", Transactions().slot, checkpoint.value_or("none"));
  co_return checkpoint;
}

std::optional<std::string> KafkaSink::ReadCheckpointBlocking() {
  const auto& settings = Transactions();
  KafkaConfHandle conf(rd_kafka_conf_new());
  // The user's connection and security settings; the producer-only ones are not needed.
  for (const auto& [key, value] : properties_) {
    std::array<char, 512> error{};
    rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error.data(), error.size());
  }
  Set(conf.get(), "group.id", "outbox-relay-checkpoint-reader");
  Set(conf.get(), "isolation.level", "read_committed");
  Set(conf.get(), "enable.auto.commit", "false");
  Set(conf.get(), "enable.partition.eof", "true");
  Set(conf.get(), "log.queue", "false");
  std::array<char, 512> error{};
  KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error.data(), error.size()));
  if (!consumer) throw SinkError(std::string("cannot create checkpoint reader: ") + error.data());
  static_cast<void>(conf.release());  // owned by the consumer now

  const rd_kafka_metadata_t* metadata = nullptr;
  KafkaTopicHandle topic(
      rd_kafka_topic_new(consumer.get(), settings.checkpoint_topic.c_str(), nullptr));
  if (rd_kafka_metadata(consumer.get(), 0, topic.get(), &metadata, Millis(kAdminTimeout)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("cannot read metadata of checkpoint topic " + settings.checkpoint_topic, true);
  }
  KafkaMetadataHandle metadata_owner(metadata);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw SinkError("checkpoint topic " + settings.checkpoint_topic + " is not available", true);
  }
  base::CHandle<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy> partitions(
      rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt));
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    rd_kafka_topic_partition_list_add(partitions.get(), settings.checkpoint_topic.c_str(),
                                      metadata->topics[0].partitions[i].id)
        ->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer.get(), partitions.get());

  std::optional<std::string> commit_lsn;
  std::set<std::int32_t> at_end;
  const auto deadline = Clock::now() + kCheckpointReadTimeout;
  while (static_cast<int>(at_end.size()) < partitions->cnt) {
    if (Clock::now() > deadline) {
      throw SinkError("timed out reading checkpoint topic " + settings.checkpoint_topic, true);
    }
    base::CHandle<rd_kafka_message_t, rd_kafka_message_destroy> message(
        rd_kafka_consumer_poll(consumer.get(), 200));
    if (!message) continue;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end.insert(message->partition);
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw SinkError("reading checkpoint topic: " + std::string(rd_kafka_message_errstr(message.get())), true);
    }
    const std::string_view key(static_cast<const char*>(message->key), message->key_len);
    if (key != settings.slot || message->payload == nullptr) continue;
    const auto value = nlohmann::json::parse(
        std::string_view(static_cast<const char*>(message->payload), message->len), nullptr, false);
    if (!value.is_object() || !value.contains("commit_lsn") || !value["commit_lsn"].is_string()) {
      throw SinkError("checkpoint record for slot " + settings.slot + " in " + settings.checkpoint_topic +
                      " is not {\"slot\", \"commit_lsn\"} JSON");
    }
    commit_lsn = value["commit_lsn"].get<std::string>();
  }
  rd_kafka_consumer_close(consumer.get());
  return commit_lsn;
}

void KafkaSink::BeginTransaction() {
  TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
      rd_kafka_begin_transaction(producer_.get()))};
  if (error) ThrowBroken("cannot begin a Kafka transaction", error);
}

awaitable<std::optional<std::string>> KafkaSink::CommitTransaction(const std::string& commit_lsn) {
  const auto& settings = Transactions();
  const nlohmann::json checkpoint = {{"slot", settings.slot}, {"commit_lsn", commit_lsn}};
  const std::string value = checkpoint.dump();
  const rd_kafka_resp_err_t error = rd_kafka_producev(
      producer_.get(), RD_KAFKA_V_TOPIC(settings.checkpoint_topic.c_str()),
      RD_KAFKA_V_KEY(settings.slot.data(), settings.slot.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&checkpoint_marker), RD_KAFKA_V_END);
  if (error == RD_KAFKA_RESP_ERR__STATE) {
    // An abortable error (an event librdkafka gave up on) already failed the transaction, which
    // then takes no more records: committing reports that error and aborts, like any other.
    auto aborted = co_await OnWorker(worker_, [this] { return CommitBlocking(); });
    if (!aborted) throw SinkError("a Kafka transaction committed without its checkpoint record");
    co_return aborted;
  }
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ThrowNotQueued("cannot queue the checkpoint record", error);
  }
  co_return co_await OnWorker(worker_, [this] { return CommitBlocking(); });
}

awaitable<void> KafkaSink::AbortTransaction() {
  co_await OnWorker(worker_, [this] {
    AbortBlocking();
    return true;
  });
}

void KafkaSink::AbortBlocking() {
  const int timeout = Millis(Transactions().transaction_timeout);
  for (int attempt = 1;; ++attempt) {
    TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
        rd_kafka_abort_transaction(producer_.get(), timeout))};
    if (!error) return;
    if (error.Fatal() || !error.Retriable() || attempt == kCommitAttempts) {
      ThrowBroken("cannot abort the Kafka transaction", error);
    }
  }
}

std::optional<std::string> KafkaSink::CommitBlocking() {
  const int timeout = Millis(Transactions().transaction_timeout);
  for (int attempt = 1;; ++attempt) {
    TxnError error{base::CHandle<rd_kafka_error_t, rd_kafka_error_destroy>(
        rd_kafka_commit_transaction(producer_.get(), timeout))};
    if (!error) return std::nullopt;
    if (error.Fatal()) ThrowBroken("Kafka transaction failed", error);
    if (error.RequiresAbort()) {
      AbortBlocking();
      return error.Text();
    }
    // A retriable outcome (for example a timeout) is ambiguous until commit succeeds:
    // librdkafka documents calling commit again.
    if (!error.Retriable() || attempt == kCommitAttempts) ThrowBroken("cannot commit the Kafka transaction", error);
    Log().warn("Kafka transaction commit attempt {} failed: {}; retrying", attempt, error.Text());
  }
}

}  // namespace outbox_relay::sinks
