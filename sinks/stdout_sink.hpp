#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "outbox/event_encoder.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::sinks {

/// Writes each event as one JSON line ({"topic","key","headers","value"}) to a stream, for
/// trying the relay without Kafka: the record KafkaSink would produce (outbox::EncodeEvent), its
/// value embedded as JSON when it is JSON. An event counts as delivered once the line is flushed.
class StdoutSink final : public Sink {
 public:
  StdoutSink(boost::asio::io_context& io, std::FILE* out);

  void SetHandlers(Handlers handlers) override;
  std::size_t Publish(const outbox::OutboxEvent& event, std::uint64_t tag) override;
  std::size_t PublishDeadLetter(const std::string& topic, const outbox::PoisonRow& poison,
                                std::uint64_t tag) override;
  bool Connected() const override { return true; }

 private:
  // Writes record_ as one line and posts its report.
  std::size_t Write(const std::string& topic, std::optional<std::string_view> key,
                    std::optional<outbox::PoisonReason> dead_letter, std::uint64_t tag);

  boost::asio::io_context& io_;
  std::FILE* out_;
  Handlers handlers_;
  outbox::EncodedEvent record_;  // reused by every Publish
};

}  // namespace outbox_relay::sinks
