#include "relay/pipeline/direct_delivery.hpp"

#include <variant>

#include "base/overloaded.hpp"

namespace outbox_relay::pipeline {

using boost::asio::awaitable;

awaitable<base::Result<void>> DirectDelivery::Prepare() { co_return boost::outcome_v2::success(); }

std::uint64_t DirectDelivery::NextTag(SourceTransaction& transaction) {
  ++transaction.events;
  tracker_.AddEvent();
  return transaction.id;
}

base::Result<void> DirectDelivery::Publish(SourceTransaction& transaction, const outbox::OutboxEvent& event) {
  return PublishEvent(event, NextTag(transaction));
}

base::Result<void> DirectDelivery::PublishPoison(SourceTransaction& transaction, const outbox::PoisonRow& poison) {
  return DeadLetter(poison, NextTag(transaction));
}

awaitable<base::Result<void>> DirectDelivery::Flush() { co_return boost::outcome_v2::success(); }

std::optional<base::Error> DirectDelivery::Interruption() const {
  if (auto broken = SinkDelivery::Interruption()) return broken;
  if (undelivered_) {
    return base::Error::Retryable("the broker did not acknowledge an event (" + *undelivered_ +
                                  "); sending again from " + tracker_.Watermark().ToString());
  }
  return std::nullopt;
}

awaitable<base::Result<void>> DirectDelivery::Recover() {
  auto replaced = ReplaceBrokenSink();
  undelivered_.reset();
  co_return replaced;
}

awaitable<void> DirectDelivery::Close(bool) { co_return; }

void DirectDelivery::Settle(const sinks::DeliveryReport& report) {
  std::visit(
      base::Overloaded{
          [&](const sinks::Delivered& delivered) {
            delivered_ = true;
            if (report.dead_letter) {
              metrics_.DeadLettered(*report.dead_letter).Increment();
            } else {
              metrics_.EventsPublished(delivered.topic).Increment();
              metrics_.BytesPublished(delivered.topic).Increment(static_cast<double>(report.bytes));
            }
            const Lsn before = tracker_.Watermark();
            tracker_.Delivered(report.tag);
            if (tracker_.Watermark() != before) listener_.OnConfirmable();
          },
          [&](const sinks::Refused& refused) {
            if (report.dead_letter) {
              listener_.OnFatal("dead-letter write failed (" + refused.error + "); check dead_letter.topic");
              return;
            }
            metrics_.DeliveryErrors("delivery").Increment();
            // Kafka refused it after the producer's own retries: it would refuse it again. Keep
            // the slot where it is and stop.
            listener_.OnFatal("delivery failed permanently (" + refused.error +
                              "); fix the topic or the broker, then restart");
          },
          // The event stays counted in its transaction until its dead-letter record is
          // acknowledged.
          [&](const sinks::RefusedAsPoison& refused) {
            auto dead_lettered = DeadLetter(refused.row, report.tag);
            if (!dead_lettered) listener_.OnFatal(dead_lettered.error().Line());
          },
          [&](const sinks::GaveUp& gave_up) { OnUndelivered(gave_up.error); },
          [&](const sinks::Withdrawn& withdrawn) { OnUndelivered(withdrawn.error); },
      },
      report.outcome);
}

void DirectDelivery::OnUndelivered(const std::string& error) {
  // Timed out or withdrawn: Kafka may take it later; skipping it would lose it. The attempt
  // ends at the first such report and the relay reads again from the slot.
  metrics_.DeliveryErrors("delivery").Increment();
  if (undelivered_) return;
  undelivered_ = error;
  listener_.OnInterrupted();
}

}  // namespace outbox_relay::pipeline
