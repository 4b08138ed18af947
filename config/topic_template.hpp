#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace outbox_relay::config {

/// Kafka refuses topic names longer than this.
inline constexpr std::size_t kMaxTopicLength = 249;

/// Kafka's rule: 1–249 characters of [a-zA-Z0-9._-], and not "." or "..".
bool IsLegalTopicName(std::string_view name);

/// What a topic template's placeholders stand for, for one event. For a logical message,
/// schema is the message prefix and table is "message".
struct TopicFields {
  std::string_view aggregate_type;
  std::string_view type;
  std::string_view schema;
  std::string_view table;
};

/// A topic name template such as "outbox.event.{aggregate_type}", parsed once.
/// Placeholders: {aggregate_type}, {type}, {schema}, {table}. The one parser of outbox.topic: config validation
/// and the event mapper both use it, so they cannot disagree about what a template means.
class TopicTemplate {
 public:
  /// Throws std::invalid_argument for an empty pattern, an unbalanced brace (with its
  /// position), an unknown placeholder, or static text outside Kafka's topic alphabet.
  explicit TopicTemplate(std::string_view pattern);

  /// The topic for one event; nullopt when the result is not a legal Kafka topic name.
  std::optional<std::string> Render(const TopicFields& fields) const;

  /// The name with the placeholders filled in, legal or not: what error messages show when
  /// Render gives nullopt.
  std::string Substitute(const TopicFields& fields) const;

  /// False for a fixed topic, which IsLegalTopicName can check completely up front.
  bool HasPlaceholders() const { return has_placeholders_; }

 private:
  enum class Part { kLiteral, kAggregateType, kType, kSchema, kTable };
  struct Segment {
    Part part;
    std::string literal;
  };
  std::vector<Segment> segments_;
  bool has_placeholders_ = false;
};

}  // namespace outbox_relay::config
