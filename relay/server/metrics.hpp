#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

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

/// Every metric `outbox-relay inbox` exports (prefix outbox_relay_inbox_). Updated on the
/// inbox's thread, scraped on the io_context's: prometheus-cpp's counters are atomic.
class InboxMetrics {
 public:
  InboxMetrics();

  std::string Serialize() const;

  /// The reasons of outbox_relay_inbox_poison_total, each exported from start-up.
  static constexpr std::array<std::string_view, 3> kPoisonReasons = {"handler_error", "missing_id",
                                                                     "invalid_payload"};
  prometheus::Counter& Poison(std::string_view reason);
  /// Records behind by partition: the high watermark minus the next offset to apply.
  prometheus::Gauge& Lag(const std::string& topic, std::int32_t partition);

  std::shared_ptr<prometheus::Registry> registry;

 private:
  prometheus::Family<prometheus::Counter>& poison_;
  prometheus::Family<prometheus::Gauge>& lag_;

 public:
  prometheus::Counter& applied;
  prometheus::Counter& duplicates;
  prometheus::Counter& unhandled;
  prometheus::Counter& dead_lettered;
  prometheus::Counter& transient_errors;
  prometheus::Histogram& batch_seconds;
  prometheus::Histogram& batch_events;
  prometheus::Gauge& assigned_partitions;
  prometheus::Gauge& ready;

 private:
  std::unordered_map<std::string, prometheus::Counter*> poison_by_reason_;
  std::map<std::pair<std::string, std::int32_t>, prometheus::Gauge*> lag_by_partition_;
};

}  // namespace outbox_relay::server
