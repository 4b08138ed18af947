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
  outbox::EncodedEvent& record = record_;
  outbox::EncodeEvent(event, record);
  // Ordered, so the line reads topic, key, headers, value and the headers keep the record's order.
  nlohmann::ordered_json line;
  line["topic"] = event.topic;
  line["key"] = event.key;
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
  const std::size_t bytes = event.key.size() + (record.value ? record.value->size() : 0);
  DeliveryReport report{tag, bytes, std::nullopt, {}};
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0) {
    report.error = std::string("writing to stdout failed: ") + std::strerror(errno);
  }
  boost::asio::post(io_, [this, report = std::move(report), topic = event.topic]() mutable {
    report.topic = topic;
    handlers_.on_delivery(report);
  });
  return bytes;
}

}  // namespace outbox_relay::sinks
