#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "outbox/outbox_event.hpp"

namespace outbox_relay::outbox {

/// An event as one Kafka record in its format (event.format): value and headers, as views into
/// the event, into `built`, or into string literals. The key is event.key. Every EncodeEvent
/// call refills it and reuses its storage, so a sink keeps one and encodes without allocating.
struct EncodedEvent {
  std::optional<std::string_view> value;  // nullopt: a null value
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // in order
  std::string built;  // the value, for the formats that build one
};

/// One encoder for every sink, so Kafka and stdout cannot disagree about a format. Lays `event`
/// out into `record`, which then refers to `event`: use it while the event lives unchanged. Pure.
void EncodeEvent(const OutboxEvent& event, EncodedEvent& record);

}  // namespace outbox_relay::outbox
