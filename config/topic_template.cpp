#include "config/topic_template.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace outbox_relay::config {

namespace {

bool IsTopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

bool IsLegalTopicName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicLength || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), IsTopicChar);
}

TopicTemplate::TopicTemplate(std::string_view pattern) {
  if (pattern.empty()) throw std::invalid_argument("topic template must not be empty");
  std::string literal;
  const auto flush_literal = [&] {
    if (!literal.empty()) segments_.push_back({Part::kLiteral, std::move(literal)});
    literal.clear();
  };
  std::size_t pos = 0;
  while (pos < pattern.size()) {
    const char c = pattern[pos];
    if (c == '{') {
      // A second '{' before the '}' means nesting or a missing '}', never a placeholder.
      const std::size_t close = pattern.find_first_of("{}", pos + 1);
      if (close == std::string_view::npos || pattern[close] == '{') {
        throw std::invalid_argument("unbalanced '{' at position " + std::to_string(pos) + " in topic template " +
                                    Quoted(pattern));
      }
      const std::string_view name = pattern.substr(pos + 1, close - pos - 1);
      static constexpr std::pair<std::string_view, Part> kPlaceholders[] = {
          {"aggregate_type", Part::kAggregateType},
          {"type", Part::kType},
          {"schema", Part::kSchema},
          {"table", Part::kTable},
      };
      const auto* found = std::find_if(std::begin(kPlaceholders), std::end(kPlaceholders),
                                       [name](const auto& entry) { return entry.first == name; });
      if (found == std::end(kPlaceholders)) {
        throw std::invalid_argument("unknown placeholder {" + std::string(name) + "} in topic template " +
                                    Quoted(pattern) + " (allowed: {aggregate_type}, {type}, {schema}, {table})");
      }
      const Part part = found->second;
      flush_literal();
      segments_.push_back({part, {}});
      has_placeholders_ = true;
      pos = close + 1;
    } else if (c == '}') {
      throw std::invalid_argument("unbalanced '}' at position " + std::to_string(pos) + " in topic template " +
                                  Quoted(pattern));
    } else if (!IsTopicChar(c)) {
      throw std::invalid_argument("character '" + std::string(1, c) + "' in topic template " + Quoted(pattern) +
                                  " is not allowed in a Kafka topic name (use a-z, A-Z, 0-9, "
                                  "'.', '_', '-')");
    } else {
      literal.push_back(c);
      ++pos;
    }
  }
  flush_literal();
}

std::string TopicTemplate::Substitute(const TopicFields& fields) const {
  std::string topic;
  for (const Segment& segment : segments_) {
    switch (segment.part) {
      case Part::kLiteral:
        topic += segment.literal;
        break;
      case Part::kAggregateType:
        topic += fields.aggregate_type;
        break;
      case Part::kType:
        topic += fields.type;
        break;
      case Part::kSchema:
        topic += fields.schema;
        break;
      case Part::kTable:
        topic += fields.table;
        break;
    }
  }
  return topic;
}

std::optional<std::string> TopicTemplate::Render(const TopicFields& fields) const {
  std::string topic = Substitute(fields);
  if (!IsLegalTopicName(topic)) return std::nullopt;
  return topic;
}

}  // namespace outbox_relay::config
