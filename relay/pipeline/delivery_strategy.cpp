#include "relay/pipeline/delivery_strategy.hpp"

#include "relay/pipeline/direct_delivery.hpp"
#include "relay/pipeline/transactional_delivery.hpp"

namespace outbox_relay::pipeline {

namespace {

// The command line builds one kind of sink for every mode; exactly-once needs its
// transactions. Checked once per sink, when it is made: a configuration error at start-up.
std::unique_ptr<sinks::TransactionalSink> RequireTransactional(std::unique_ptr<sinks::Sink> sink) {
  auto* transactional = dynamic_cast<sinks::TransactionalSink*>(sink.get());
  if (transactional == nullptr) throw sinks::SinkError("exactly-once delivery needs the Kafka sink");
  static_cast<void>(sink.release());  // ownership passes to the returned pointer: the same object
  return std::unique_ptr<sinks::TransactionalSink>(transactional);
}

}  // namespace

std::unique_ptr<DeliveryStrategy> MakeDeliveryStrategy(const DeliveryContext& context,
                                                       std::unique_ptr<sinks::Sink> sink,
                                                       DeliveryStrategy::SinkFactory new_sink) {
  switch (context.config.delivery) {
    case config::DeliveryMode::kAtLeastOnce:
      return std::make_unique<DirectDelivery>(context, std::move(sink), std::move(new_sink));
    case config::DeliveryMode::kExactlyOnce:
      return std::make_unique<TransactionalDelivery>(
          context, RequireTransactional(std::move(sink)),
          [new_sink = std::move(new_sink)] { return RequireTransactional(new_sink()); });
  }
  throw sinks::SinkError("unknown delivery mode");  // unreachable: the switch names every mode
}

}  // namespace outbox_relay::pipeline
