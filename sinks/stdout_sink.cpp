#include "sinks/stdout_sink.hpp"

#include <cerrno>
#include <cstring>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

namespace outbox_relay::sinks {

StdoutSink::StdoutSink(boost::asio::io_context& io, std::FILE* out) : io_(io), out_(out) {}

void StdoutSink::SetHandlers(Handlers handlers) { handlers_ = std::move(handlers); }

void StdoutSink::Publish(const outbox::OutboxEvent& event, std::uint64_t tag) {
  nlohmann::json line;
  line["topic"] = event.topic;
  line["key"] = event.aggregate_id;
  auto& headers = line["headers"] = nlohmann::json::object();
  headers["id"] = event.id;
  headers["type"] = event.type;
  headers["aggregate_type"] = event.aggregate_type;
  headers["commit_lsn"] = event.commit_lsn;
  for (const auto& [key, value] : event.headers) headers[key] = value;
  if (event.payload) {
    // Show the payload as JSON when it is JSON, so the line stays readable; otherwise as text.
    auto value = nlohmann::json::parse(*event.payload, nullptr, /*allow_exceptions=*/false);
    line["value"] = value.is_discarded() ? nlohmann::json(*event.payload) : std::move(value);
  } else {
    line["value"] = nullptr;
  }
  const auto text = line.dump() + "\n";
  DeliveryReport report{tag, outbox::EventSize(event), std::nullopt, {}};
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() || std::fflush(out_) != 0) {
    report.error = std::string("writing to stdout failed: ") + std::strerror(errno);
  }
  boost::asio::post(io_, [this, report = std::move(report), topic = event.topic]() mutable {
    report.topic = topic;
    handlers_.on_delivery(report);
  });
}

}  // namespace outbox_relay::sinks
