#include "outbox/topic_template.hpp"

#include <algorithm>
#include <stdexcept>

#include "outbox/event_mapper.hpp"

namespace outbox_relay::outbox {

namespace {

constexpr std::size_t kMaxTopicLength = 249;

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

bool IsLegalTopicName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicLength || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), IsTopicChar);
}

TopicTemplate::TopicTemplate(std::string_view pattern) {
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    const auto open = pattern.find('{', pos);
    if (open == std::string_view::npos) {
      segments_.push_back({Part::kLiteral, std::string(pattern.substr(pos))});
      break;
    }
    if (open > pos) segments_.push_back({Part::kLiteral, std::string(pattern.substr(pos, open - pos))});
    const auto close = pattern.find('}', open);
    if (close == std::string_view::npos) {
      throw std::invalid_argument("topic template: unbalanced '{'");
    }
    const auto name = pattern.substr(open + 1, close - open - 1);
    if (name == "aggregate_type") {
      segments_.push_back({Part::kAggregateType, {}});
    } else if (name == "type") {
      segments_.push_back({Part::kType, {}});
    } else {
      throw std::invalid_argument("topic template: unknown placeholder {" + std::string(name) + "}");
    }
    pos = close + 1;
  }
}

std::string TopicTemplate::Render(std::string_view aggregate_type, std::string_view type) const {
  std::string topic;
  for (const auto& segment : segments_) {
    switch (segment.part) {
      case Part::kLiteral:
        topic += segment.literal;
        break;
      case Part::kAggregateType:
        topic += aggregate_type;
        break;
      case Part::kType:
        topic += type;
        break;
    }
  }
  if (!IsLegalTopicName(topic)) {
    throw PoisonRowError("topic \"" + topic +
                         "\" is not a legal Kafka topic name (1-249 of [a-zA-Z0-9._-]); check "
                         "aggregate type / type values or outbox.topic");
  }
  return topic;
}

}  // namespace outbox_relay::outbox
