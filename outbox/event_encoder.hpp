#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "outbox/outbox_event.hpp"

namespace outbox_relay::outbox {

/// An event as one Kafka record in its format (event.format): value and headers. The key is
/// event.key.
struct EncodedEvent {
  std::optional<std::string> value;  // nullopt: a null value
  std::vector<std::pair<std::string, std::string>> headers;  // in order
};

/// One encoder for every sink, so Kafka and stdout cannot disagree about a format. Pure.
EncodedEvent EncodeEvent(const OutboxEvent& event);

}  // namespace outbox_relay::outbox
