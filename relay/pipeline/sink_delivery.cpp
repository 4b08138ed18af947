#include "relay/pipeline/sink_delivery.hpp"

#include <algorithm>
#include <utility>

#include "base/logging.hpp"
#include "outbox/event_encoder.hpp"

namespace outbox_relay::pipeline {

std::string PoisonFailure(const outbox::PoisonRow& poison, config::PoisonPolicy policy) {
  return "poison row: " + poison.Describe() +
         "; its transaction is not confirmed: fix the row, the table or the configuration" +
         (policy == config::PoisonPolicy::kFail ? ", or set on_poison: dead-letter"
                                                : " (outside a transaction it cannot be dead-lettered)");
}

SinkDelivery::SinkDelivery(const DeliveryContext& context, std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink)
    : config_(context.config),
      tracker_(context.tracker),
      metrics_(context.metrics),
      clock_(context.clock),
      listener_(context.listener),
      new_sink_(std::move(new_sink)) {
  Install(std::move(sink));
}

void SinkDelivery::Install(std::unique_ptr<sinks::Sink> sink) {
  sink_ = std::move(sink);
  delivered_ = false;
  sink_->SetHandlers({[this](const sinks::DeliveryReport& report) { OnReport(report); },
                      [this](const std::string& reason) { MarkBroken(reason); }});
}

void SinkDelivery::OnReport(const sinks::DeliveryReport& report) {
  --in_flight_events_;
  in_flight_bytes_ -= std::min(in_flight_bytes_, report.bytes);
  listener_.OnReport();
  Settle(report);
}

std::optional<base::Error> SinkDelivery::Interruption() const {
  if (broken_) return base::Error::Retryable(*broken_);
  return std::nullopt;
}

void SinkDelivery::MarkBroken(const std::string& reason) {
  if (broken_) return;
  broken_ = reason;
  // The read or the wait in progress ends, and the relay meets Interruption().
  listener_.OnInterrupted();
}

base::Error SinkDelivery::CaughtSinkError() {
  // Rethrown to be told apart by type here, so each sink call needs one handler.
  try {
    throw;
  } catch (const sinks::SinkBrokenError& error) {
    MarkBroken(error.what());
    return base::Error::Retryable(error.what());
  } catch (const sinks::SinkError& error) {
    return error.retryable() ? base::Error::Retryable(error.what()) : base::Error::Fatal(error.what());
  }
}

outbox::PoisonRow SinkDelivery::RefusedEvent(const outbox::OutboxEvent& event, std::string detail) {
  outbox::EncodedEvent record;
  outbox::EncodeEvent(event, record);
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kRecordTooLarge;
  poison.detail = std::move(detail);
  poison.source = event.source;
  poison.id = event.id;
  poison.commit_lsn = event.commit_lsn;
  poison.topic = event.topic;
  poison.key = event.key;
  if (record.value) poison.value.emplace(*record.value);
  for (const auto& [name, value] : record.headers) poison.headers.emplace_back(name, value);
  return poison;
}

base::Result<void> SinkDelivery::PublishEvent(const outbox::OutboxEvent& event, std::uint64_t tag) {
  try {
    in_flight_bytes_ += sink_->Publish(event, tag);
  } catch (const sinks::RecordTooLargeError& error) {
    const outbox::PoisonRow poison = RefusedEvent(event, error.what());
    return DeadLetter(poison, tag);
  } catch (const sinks::SinkError&) {
    return CaughtSinkError();
  }
  ++in_flight_events_;
  return boost::outcome_v2::success();
}

base::Result<void> SinkDelivery::DeadLetter(const outbox::PoisonRow& poison, std::uint64_t tag) {
  if (config_.on_poison == config::PoisonPolicy::kFail) {
    return base::Error::Fatal(PoisonFailure(poison, config_.on_poison));
  }
  base::RelayLog().warn("dead-lettering poison row: {}; to topic {}", poison.Describe(),
                        config_.dead_letter.topic);
  try {
    in_flight_bytes_ += sink_->PublishDeadLetter(config_.dead_letter.topic, poison, tag);
  } catch (const sinks::SinkError&) {
    return CaughtSinkError();
  }
  ++in_flight_events_;
  return boost::outcome_v2::success();
}

base::Result<void> SinkDelivery::ReplaceBrokenSink() {
  if (!broken_) return boost::outcome_v2::success();
  const std::string reason = *std::exchange(broken_, std::nullopt);
  if (!delivered_) {
    // A new producer would meet the same refusal (an authorisation, another owner of the id).
    return base::Error::Fatal(reason + "; this producer had delivered nothing, so a new one is not tried");
  }
  std::unique_ptr<sinks::Sink> replacement;
  try {
    replacement = new_sink_();
  } catch (const sinks::SinkError& error) {
    return base::Error::Fatal(reason + "; cannot create a new producer: " + error.what());
  }
  metrics_.DeliveryErrors("producer_replaced").Increment();
  base::RelayLog().warn(
      "{}; replacing the producer, which drops its {} unacknowledged events: they are read again from {}", reason,
      in_flight_events_, tracker_.Watermark().ToString());
  // The old one goes without reports: what it still held is sent again through the new one.
  sink_.reset();
  in_flight_events_ = 0;
  in_flight_bytes_ = 0;
  Install(std::move(replacement));
  OnInstalled(*sink_);
  return boost::outcome_v2::success();
}

}  // namespace outbox_relay::pipeline
