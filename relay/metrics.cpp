#include "relay/metrics.hpp"

#include <sstream>

#include <prometheus/text_serializer.h>

#include "relay/version.hpp"

namespace outbox_relay::relay {

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

}  // namespace

RelayMetrics::RelayMetrics()
    : registry(std::make_shared<prometheus::Registry>()),
      events_published(BuildCounter()
                           .Name("outbox_relay_events_published_total")
                           .Help("Events acknowledged by the sink (exactly-once: committed), by topic")
                           .Register(*registry)),
      bytes_published(BuildCounter()
                          .Name("outbox_relay_bytes_published_total")
                          .Help("Key plus value bytes of the published events, by topic")
                          .Register(*registry)),
      delivery_errors(BuildCounter()
                          .Name("outbox_relay_delivery_errors_total")
                          .Help("Delivery failures by kind: delivery (event not acknowledged), "
                                "transaction_aborted, fatal")
                          .Register(*registry)),
      dead_lettered(BuildCounter()
                        .Name("outbox_relay_dead_lettered_total")
                        .Help("Poison rows written to the dead-letter topic")
                        .Register(*registry)
                        .Add({})),
      in_flight_events(BuildGauge()
                           .Name("outbox_relay_in_flight_events")
                           .Help("Events handed to the sink and not yet acknowledged")
                           .Register(*registry)
                           .Add({})),
      in_flight_bytes(BuildGauge()
                          .Name("outbox_relay_in_flight_bytes")
                          .Help("Bytes of the in-flight events")
                          .Register(*registry)
                          .Add({})),
      received_lsn(BuildGauge()
                       .Name("outbox_relay_received_lsn")
                       .Help("Highest WAL position received from PostgreSQL, as a number")
                       .Register(*registry)
                       .Add({})),
      acknowledged_lsn(BuildGauge()
                           .Name("outbox_relay_acknowledged_lsn")
                           .Help("WAL position confirmed to the slot (everything before it is in Kafka)")
                           .Register(*registry)
                           .Add({})),
      lag_bytes(BuildGauge()
                    .Name("outbox_relay_replication_lag_bytes")
                    .Help("Server WAL position minus the slot's confirmed position")
                    .Register(*registry)
                    .Add({})),
      lag_seconds(BuildGauge()
                      .Name("outbox_relay_replication_lag_seconds")
                      .Help("Age of the newest acknowledged commit when it was acknowledged; 0 when idle")
                      .Register(*registry)
                      .Add({})),
      retained_wal_bytes(BuildGauge()
                             .Name("outbox_relay_slot_retained_wal_bytes")
                             .Help("WAL the slot keeps on the server (current LSN minus restart_lsn)")
                             .Register(*registry)
                             .Add({})),
      wal_guard_exceeded(BuildGauge()
                             .Name("outbox_relay_wal_guard_exceeded")
                             .Help("1 while retained WAL is over the wal_guard limit of this level")
                             .Register(*registry)),
      wal_guard_exceeded_warn(wal_guard_exceeded.Add({{"level", "warn"}})),
      wal_guard_exceeded_max(wal_guard_exceeded.Add({{"level", "max"}})),
      commit_to_ack_seconds(BuildHistogram()
                                .Name("outbox_relay_commit_to_ack_seconds")
                                .Help("From a source transaction's commit to its acknowledgement")
                                .Register(*registry)
                                .Add({}, prometheus::Histogram::BucketBoundaries{
                                             0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5, 1, 2.5, 5, 10, 30, 60})),
      transaction_events(BuildHistogram()
                             .Name("outbox_relay_transaction_events")
                             .Help("Outbox events per source transaction")
                             .Register(*registry)
                             .Add({}, prometheus::Histogram::BucketBoundaries{
                                          1, 2, 5, 10, 50, 100, 1000, 10000, 100000})),
      reconnects(BuildCounter()
                     .Name("outbox_relay_reconnects_total")
                     .Help("Replication connection attempts after the first")
                     .Register(*registry)
                     .Add({})),
      heartbeats(BuildCounter()
                     .Name("outbox_relay_heartbeats_total")
                     .Help("Heartbeat messages written to the source database")
                     .Register(*registry)
                     .Add({})),
      ready(BuildGauge()
                .Name("outbox_relay_ready")
                .Help("1 while /readyz answers ready")
                .Register(*registry)
                .Add({})) {
  BuildGauge()
      .Name("outbox_relay_build_info")
      .Help("Always 1; the labels say which build runs")
      .Register(*registry)
      .Add({{"version", std::string(kVersion)}, {"revision", std::string(kGitRevision)}})
      .Set(1);
}

prometheus::Counter& RelayMetrics::EventsPublished(std::string_view topic) {
  return Cached(events_by_topic_, events_published, "topic", topic);
}

prometheus::Counter& RelayMetrics::BytesPublished(std::string_view topic) {
  return Cached(bytes_by_topic_, bytes_published, "topic", topic);
}

prometheus::Counter& RelayMetrics::DeliveryErrors(std::string_view kind) {
  return Cached(errors_by_kind_, delivery_errors, "kind", kind);
}

std::string RelayMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry->Collect());
  return out.str();
}

}  // namespace outbox_relay::relay
