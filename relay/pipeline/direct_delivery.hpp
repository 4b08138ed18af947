#pragma once

#include <optional>
#include <string>

#include "relay/pipeline/sink_delivery.hpp"

namespace outbox_relay::pipeline {

/// At-least-once: each event goes to the sink on its own, tagged with its source transaction;
/// the transaction counts as delivered once Kafka acknowledged every event of it (the
/// AckTracker's watermark). An event Kafka gave up on ends the attempt: the relay re-reads
/// from the watermark, since skipping it could lose it.
class DirectDelivery final : public SinkDelivery {
 public:
  DirectDelivery(const DeliveryContext& context, std::unique_ptr<sinks::Sink> sink, SinkFactory new_sink)
      : SinkDelivery(context, std::move(sink), std::move(new_sink)) {}

  boost::asio::awaitable<base::Result<void>> Prepare() override;
  void Begin(const SourceTransaction&) override {}
  base::Result<void> Publish(SourceTransaction& transaction, const outbox::OutboxEvent& event) override;
  base::Result<void> PublishPoison(SourceTransaction& transaction, const outbox::PoisonRow& poison) override;
  void Commit(const SourceTransaction&) override {}
  bool FlushDue() const override { return false; }
  Clock::TimePoint FlushDeadline() const override { return Clock::TimePoint::max(); }
  boost::asio::awaitable<base::Result<void>> Flush() override;
  std::optional<base::Error> Interruption() const override;
  boost::asio::awaitable<base::Result<void>> Recover() override;
  boost::asio::awaitable<void> Close(bool) override;
  bool Pending() const override { return InFlightEvents() > 0; }

 private:
  void Settle(const sinks::DeliveryReport& report) override;
  void OnInstalled(sinks::Sink&) override {}
  // The tag of the transaction's next event: the tracker counts it.
  std::uint64_t NextTag(SourceTransaction& transaction);
  // An event Kafka gave up on or withdrew: the attempt ends (Interruption()).
  void OnUndelivered(const std::string& error);

  // An event Kafka did not acknowledge in time (its error): read again from the watermark.
  std::optional<std::string> undelivered_;
};

}  // namespace outbox_relay::pipeline
