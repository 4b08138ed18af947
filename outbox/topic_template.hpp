#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace outbox_relay::outbox {

/// A topic name template such as "outbox.event.{aggregate_type}", parsed once.
/// Placeholders: {aggregate_type}, {type}.
class TopicTemplate {
 public:
  /// Throws std::invalid_argument naming the bad placeholder; config validation has already
  /// rejected such templates, so this only guards direct use.
  explicit TopicTemplate(std::string_view pattern);

  /// The topic for one event. Throws PoisonRowError (event_mapper.hpp) if the result is not a
  /// legal Kafka topic name.
  std::string Render(std::string_view aggregate_type, std::string_view type) const;

 private:
  enum class Part { kLiteral, kAggregateType, kType };
  struct Segment {
    Part part;
    std::string literal;
  };
  std::vector<Segment> segments_;
};

/// Kafka's rule: 1–249 characters of [a-zA-Z0-9._-], and not "." or "..".
bool IsLegalTopicName(std::string_view name);

}  // namespace outbox_relay::outbox
