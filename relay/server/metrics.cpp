#include "relay/server/metrics.hpp"

#include <sstream>

#include <prometheus/text_serializer.h>

#include "base/version.hpp"

namespace outbox_relay::server {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

prometheus::Counter& Cached(std::unordered_map<std::string, prometheus::Counter*>& cache,
                            prometheus::Family<prometheus::Counter>& family, const char* label,
                            std::string_view value) {
  auto found = cache.find(std::string(value));
  if (found != cache.end()) return *found->second;
  auto& counter = family.Add({{label, std::string(value)}});
  cache.emplace(std::string(value), &counter);
  return counter;
}

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry, const char* name,
                                                       const char* help) {
  return BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry, const char* name,
                                                   const char* help) {
  return BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Counter& Counter(prometheus::Registry& registry, const char* name, const char* help) {
  return CounterFamily(registry, name, help).Add({});
}

prometheus::Gauge& Gauge(prometheus::Registry& registry, const char* name, const char* help) {
  return GaugeFamily(registry, name, help).Add({});
}

prometheus::Histogram& Histogram(prometheus::Registry& registry, const char* name, const char* help,
                                 const prometheus::Histogram::BucketBoundaries& buckets) {
  return BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

std::string SerializeRegistry(const prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

// Names every kind, so the help cannot fall behind the list.
std::string DeliveryErrorsHelp() {
  std::string help = "Delivery failures by kind:";
  for (const std::string_view kind : kDeliveryErrorKinds) {
    help += (kind == kDeliveryErrorKinds.front() ? " " : ", ") + std::string(kind);
    if (kind == "delivery") help += " (an event not acknowledged in time, sent again, or refused)";
    if (kind == "producer_replaced") help += " (after a fatal producer error)";
  }
  return help;
}

}  // namespace

RelayMetrics::RelayMetrics()
    : registry(std::make_shared<prometheus::Registry>()),
      events_published_(CounterFamily(*registry, "outbox_relay_events_published_total",
                                      "Events acknowledged by the sink (exactly-once: committed), by topic")),
      bytes_published_(CounterFamily(*registry, "outbox_relay_bytes_published_total",
                                     "Key plus value bytes of the published events, by topic")),
      delivery_errors_(
          CounterFamily(*registry, "outbox_relay_delivery_errors_total", DeliveryErrorsHelp().c_str())),
      dead_lettered_(CounterFamily(*registry, "outbox_relay_dead_lettered_total",
                                   "Poison rows written to the dead-letter topic, by reason")),
      in_flight_events(
          Gauge(*registry, "outbox_relay_in_flight_events", "Events handed to the sink and not yet acknowledged")),
      in_flight_bytes(Gauge(*registry, "outbox_relay_in_flight_bytes", "Bytes of the in-flight events")),
      received_lsn(Gauge(*registry, "outbox_relay_received_lsn",
                         "Highest WAL position received from PostgreSQL, as a number")),
      acknowledged_lsn(Gauge(*registry, "outbox_relay_acknowledged_lsn",
                             "WAL position confirmed to the slot (everything before it is in the sink)")),
      lag_bytes(Gauge(*registry, "outbox_relay_replication_lag_bytes",
                      "Server WAL position minus the slot's confirmed position")),
      lag_seconds(Gauge(*registry, "outbox_relay_replication_lag_seconds",
                        "Age of the newest acknowledged commit when it was acknowledged; 0 when idle")),
      retained_wal_bytes(Gauge(*registry, "outbox_relay_slot_retained_wal_bytes",
                               "WAL the slot keeps on the server (current LSN minus restart_lsn)")),
      wal_guard_exceeded(GaugeFamily(*registry, "outbox_relay_wal_guard_exceeded",
                                     "1 while retained WAL is over the wal_guard limit of this level")),
      wal_guard_exceeded_warn(wal_guard_exceeded.Add({{"level", "warn"}})),
      wal_guard_exceeded_max(wal_guard_exceeded.Add({{"level", "max"}})),
      commit_to_ack_seconds(
          Histogram(*registry, "outbox_relay_commit_to_ack_seconds",
                    "From a source transaction's commit to its acknowledgement",
                    {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
      transaction_events(Histogram(*registry, "outbox_relay_transaction_events",
                                   "Outbox events per source transaction",
                                   {1, 2, 5, 10, 50, 100, 1000, 10000, 100000})),
      reconnects(
          Counter(*registry, "outbox_relay_reconnects_total", "Replication connection attempts after the first")),
      heartbeats(Counter(*registry, "outbox_relay_heartbeats_total",
                         "Heartbeat messages written to the source database")),
      ready(Gauge(*registry, "outbox_relay_ready", "1 while /readyz answers ready")),
      active(Gauge(*registry, "outbox_relay_active",
                   "1 while this relay holds the replication slot and streams; 0 on a standby")) {
  // Present at 0 from the start, so increase() sees the first error.
  for (const std::string_view kind : kDeliveryErrorKinds) DeliveryErrors(kind);
  for (const outbox::PoisonReason reason : outbox::kPoisonReasons) DeadLettered(reason);
  GaugeFamily(*registry, "outbox_relay_build_info", "Always 1; the labels say which build runs")
      .Add({{"version", std::string(base::kVersion)}, {"revision", std::string(base::kGitRevision)}})
      .Set(1);
}

prometheus::Counter& RelayMetrics::EventsPublished(std::string_view topic) {
  return Cached(events_by_topic_, events_published_, "topic", topic);
}

prometheus::Counter& RelayMetrics::BytesPublished(std::string_view topic) {
  return Cached(bytes_by_topic_, bytes_published_, "topic", topic);
}

prometheus::Counter& RelayMetrics::DeliveryErrors(std::string_view kind) {
  return Cached(errors_by_kind_, delivery_errors_, "kind", kind);
}

prometheus::Counter& RelayMetrics::DeadLettered(outbox::PoisonReason reason) {
  return Cached(dead_lettered_by_reason_, dead_lettered_, "reason", outbox::ReasonCode(reason));
}

std::string RelayMetrics::Serialize() const { return SerializeRegistry(*registry); }

InboxMetrics::InboxMetrics()
    : registry(std::make_shared<prometheus::Registry>()),
      poison_(CounterFamily(*registry, "outbox_relay_inbox_poison_total",
                            "Events the inbox could not apply, by reason (inbox.on_poison decides what follows)")),
      lag_(GaugeFamily(*registry, "outbox_relay_inbox_lag_records",
                       "Records of a partition not applied yet: the high watermark minus the stored position")),
      applied(Counter(*registry, "outbox_relay_inbox_events_applied_total",
                      "Events whose handler ran and committed (each event id once)")),
      duplicates(Counter(*registry, "outbox_relay_inbox_duplicates_skipped_total",
                         "Records whose event id the inbox had applied before: nothing ran")),
      unhandled(Counter(*registry, "outbox_relay_inbox_unhandled_total",
                        "Events no rule of inbox.handlers matches, recorded without a handler")),
      dead_lettered(Counter(*registry, "outbox_relay_inbox_dead_lettered_total",
                            "Poison events written to inbox.dead_letter_topic and recorded as done")),
      transient_errors(Counter(*registry, "outbox_relay_inbox_retries_total",
                               "Batches tried again after a transient failure (serialization failure, deadlock, "
                               "lost connection)")),
      batch_seconds(Histogram(*registry, "outbox_relay_inbox_apply_seconds",
                              "Duration of one batch's PostgreSQL transaction",
                              {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      batch_events(Histogram(*registry, "outbox_relay_inbox_batch_events", "Records per applied batch",
                             {1, 2, 5, 10, 50, 100, 500, 1000, 10000})),
      assigned_partitions(
          Gauge(*registry, "outbox_relay_inbox_assigned_partitions", "Partitions assigned to this inbox process")),
      ready(Gauge(*registry, "outbox_relay_inbox_ready", "1 while /readyz answers ready")) {
  for (const std::string_view reason : kPoisonReasons) Poison(reason);
  GaugeFamily(*registry, "outbox_relay_build_info", "Always 1; the labels say which build runs")
      .Add({{"version", std::string(base::kVersion)}, {"revision", std::string(base::kGitRevision)}})
      .Set(1);
}

std::string InboxMetrics::Serialize() const { return SerializeRegistry(*registry); }

prometheus::Counter& InboxMetrics::Poison(std::string_view reason) {
  return Cached(poison_by_reason_, poison_, "reason", reason);
}

prometheus::Gauge& InboxMetrics::Lag(const std::string& topic, std::int32_t partition) {
  auto& gauge = lag_by_partition_[{topic, partition}];
  if (gauge == nullptr) gauge = &lag_.Add({{"topic", topic}, {"partition", std::to_string(partition)}});
  return *gauge;
}

}  // namespace outbox_relay::server
