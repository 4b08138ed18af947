#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "outbox/poison.hpp"

namespace outbox_relay::server {

/// The `kind` label values of outbox_relay_delivery_errors_total, each exported from start-up.
inline constexpr std::array<std::string_view, 4> kDeliveryErrorKinds = {"delivery", "transaction_aborted",
                                                                        "producer_replaced", "fatal"};

/// Every metric the relay exports (prefix outbox_relay_), registered in one place. Labels stay
/// low-cardinality: topic and error kind, never an aggregate id. Used from the io_context
/// thread; the registry itself is thread-safe for scraping.
class RelayMetrics {
 public:
  RelayMetrics();

  /// Prometheus text exposition of everything registered.
  std::string Serialize() const;

  /// The counters of one topic, created on first use and cached (no per-event label lookup).
  prometheus::Counter& EventsPublished(std::string_view topic);
  prometheus::Counter& BytesPublished(std::string_view topic);
  prometheus::Counter& DeliveryErrors(std::string_view kind);
  /// Poison rows whose dead-letter record Kafka acknowledged (exactly-once: committed).
  prometheus::Counter& DeadLettered(outbox::PoisonReason reason);

  std::shared_ptr<prometheus::Registry> registry;

 private:
  // Labelled families: reached only through the cached accessors above.
  prometheus::Family<prometheus::Counter>& events_published_;
  prometheus::Family<prometheus::Counter>& bytes_published_;
  prometheus::Family<prometheus::Counter>& delivery_errors_;
  prometheus::Family<prometheus::Counter>& dead_lettered_;

 public:
  prometheus::Gauge& in_flight_events;
  prometheus::Gauge& in_flight_bytes;
  prometheus::Gauge& received_lsn;
  prometheus::Gauge& acknowledged_lsn;
  prometheus::Gauge& lag_bytes;
  prometheus::Gauge& lag_seconds;
  prometheus::Gauge& retained_wal_bytes;
  prometheus::Family<prometheus::Gauge>& wal_guard_exceeded;
  prometheus::Gauge& wal_guard_exceeded_warn;
  prometheus::Gauge& wal_guard_exceeded_max;
  prometheus::Histogram& commit_to_ack_seconds;
  prometheus::Histogram& transaction_events;
  prometheus::Counter& reconnects;
  prometheus::Counter& heartbeats;
  prometheus::Gauge& ready;
  prometheus::Gauge& active;

 private:
  std::unordered_map<std::string, prometheus::Counter*> events_by_topic_;
  std::unordered_map<std::string, prometheus::Counter*> bytes_by_topic_;
  std::unordered_map<std::string, prometheus::Counter*> errors_by_kind_;
  std::unordered_map<std::string, prometheus::Counter*> dead_lettered_by_reason_;
};

}  // namespace outbox_relay::server
