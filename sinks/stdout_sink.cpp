#include "sinks/stdout_sink.hpp"

#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "outbox/event_encoder.hpp"

namespace outbox_relay::sinks {

StdoutSink::StdoutSink(boost::asio::io_context& io, std::FILE* out) : io_(io), out_(out) {}

void StdoutSink::SetHandlers(Handlers handlers) { handlers_ = std::move(handlers); }

std::size_t StdoutSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  outbox::EncodeEvent(event, record_);
  return Write(event.topic, event.key, std::nullopt, tag);
}

std::size_t StdoutSink::PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                          std::uint64_t tag) {
  outbox::EncodeDeadLetter(poison, record_);
  return Write(topic, poison.key, poison.reason, tag);
}

std::size_t StdoutSink::Write(const std::string& topic, std::optional<std::string_view> key,
                              std::optional<outbox::PoisonReason> dead_letter, std::uint64_t tag) {
  const outbox::EncodedEvent& record = record_;
  // Ordered, so the line reads topic, key, headers, value and the headers keep the record's order.
  nlohmann::ordered_json line;
  line["topic"] = topic;
  line["key"] = key ? nlohmann::ordered_json(*key) : nlohmann::ordered_json(nullptr);
  auto& headers = line["headers"] = nlohmann::ordered_json::object();
  // A name that repeats (a row header named like one of the relay's) shows its last value, which
  // is the one Kafka consumers' lastHeader() returns.
  for (const auto& [name, value] : record.headers) headers[name] = value;
  if (record.value) {
    // Show the value as JSON when it is JSON, so the line stays readable; otherwise as text.
    auto value = nlohmann::ordered_json::parse(*record.value, nullptr, /*allow_exceptions=*/false);
    line["value"] = value.is_discarded() ? nlohmann::ordered_json(*record.value) : std::move(value);
  } else {
    line["value"] = nullptr;
  }
  const auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const std::size_t bytes = (key ? key->size() : 0) + (record.value ? record.value->size() : 0);
  DeliveryReport report;
  report.tag = tag;
  report.bytes = bytes;
  report.dead_letter = dead_letter;
  const bool written = std::fwrite(text.data(), 1, text.size(), out_) == text.size() && std::fflush(out_) == 0;
  if (!written) report.outcome = Refused{std::string("writing to stdout failed: ") + std::strerror(errno)};
  boost::asio::post(io_, [this, report = std::move(report), topic, written]() mutable {
    // The topic's text lives in this lambda: the view is taken where the handler runs.
    if (written) report.outcome = Delivered{topic};
    handlers_.on_delivery(report);
  });
  return bytes;
}

}  // namespace outbox_relay::sinks
