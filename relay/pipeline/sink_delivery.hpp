#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "relay/pipeline/delivery_strategy.hpp"

namespace outbox_relay::pipeline {

/// What both delivery strategies share: the sink and its replacement after it broke, the
/// in-flight counts, publishing and dead-lettering with the sink's exceptions turned into
/// base::Errors. Each report goes through OnReport to the strategy's Settle.
class SinkDelivery : public DeliveryStrategy {
 public:
  std::size_t InFlightEvents() const override { return in_flight_events_; }
  std::size_t InFlightBytes() const override { return in_flight_bytes_; }
  bool ReportsStopped() const override { return broken_.has_value(); }
  bool Connected() const override { return sink_->Connected(); }
  std::optional<base::Error> Interruption() const override;

 protected:
  SinkDelivery(const DeliveryContext& context, std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink);

  /// What a report means for this strategy (the in-flight counts are already down).
  virtual void Settle(const sinks::DeliveryReport& report) = 0;
  /// A new sink is in place (the first, or a replacement).
  virtual void OnInstalled(sinks::Sink& sink) = 0;

  /// Hands `event` to the sink under `tag`; a record over the size limit is dead-lettered.
  base::Result<void> PublishEvent(const outbox::OutboxEvent& event, std::uint64_t tag);
  /// An event whose record Kafka refuses as too large, as a poison row holding that record.
  static outbox::PoisonRow RefusedEvent(const outbox::OutboxEvent& event, std::string detail);
  /// Hands `poison` to the dead-letter topic under `tag`; under on_poison: fail, a fatal error.
  base::Result<void> DeadLetter(const outbox::PoisonRow& poison, std::uint64_t tag);
  /// The sink can deliver nothing more: the attempt ends and Recover() replaces it.
  void MarkBroken(const std::string& reason);
  /// A new sink for a broken one; a fatal error when a new one would fail the same way.
  base::Result<void> ReplaceBrokenSink();
  /// Inside a handler of sinks::SinkError only: the exception being handled as an error. A
  /// SinkBrokenError marks the sink broken (retryable: Recover() replaces it).
  base::Error CaughtSinkError();

  sinks::Sink& sink() { return *sink_; }
  bool broken() const { return broken_.has_value(); }

  const config::Config& config_;
  AckTracker& tracker_;
  server::RelayMetrics& metrics_;
  Clock& clock_;
  DeliveryListener& listener_;
  // The sink has delivered something: a failure after that is no sign that a new one would fail.
  bool delivered_ = false;

 private:
  void Install(std::unique_ptr<sinks::Sink> sink);
  void OnReport(const sinks::DeliveryReport& report);

  std::unique_ptr<sinks::Sink> sink_;
  SinkFactory new_sink_;
  std::optional<std::string> broken_;  // why the sink can deliver nothing more
  std::size_t in_flight_events_ = 0;   // handed to the sink, no delivery report yet
  std::size_t in_flight_bytes_ = 0;
};

}  // namespace outbox_relay::pipeline
