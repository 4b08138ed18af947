#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "outbox/outbox_event.hpp"

namespace outbox_relay::sinks {

/// The outcome of one published event.
struct DeliveryReport {
  std::uint64_t tag = 0;      // what the caller passed to Publish
  std::size_t bytes = 0;      // outbox::EventSize of the event
  std::optional<std::string> error;  // set when the event is definitely not delivered
};

/// A sink refused an event outright, or failed in a way it cannot recover from.
class SinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where events go. All methods are called on the relay's io_context thread, and delivery
/// reports are delivered on that thread too, never from inside Publish.
class Sink {
 public:
  struct Handlers {
    std::function<void(const DeliveryReport&)> on_delivery;
    /// The sink can deliver nothing more (for example a fatal idempotent-producer error).
    std::function<void(const std::string& reason)> on_failure;
  };

  virtual ~Sink() = default;

  /// Receives every delivery report and failure. Set once, before the first Publish.
  virtual void SetHandlers(Handlers handlers) = 0;

  /// Hands one event over without blocking. Its report arrives later through the handler.
  /// Events with the same key are delivered in the order they were published.
  /// Throws SinkError if the event cannot even be queued.
  virtual void Publish(const outbox::OutboxEvent& event, std::uint64_t tag) = 0;

  /// Whether the sink is currently connected to where it delivers (for logs and readiness).
  virtual bool Connected() const = 0;
};

}  // namespace outbox_relay::sinks
