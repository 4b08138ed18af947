// The outbox.* keys but the routing rules (routes.cpp): which tables and message prefixes are
// captured, their columns, and the default topic, key and record format.

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"
#include "config/topic_template.hpp"

namespace outbox_relay::config::detail {
namespace {

// CloudEvents' `source` is a URI-reference (RFC 3986); empty means "derive one per event".
// Only what can never be part of one is refused, so a mistake shows up before the first event.
Problem CheckUriReference(const std::string& source, const Config&) {
  for (const char c : source) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' ||
        c == '^' || c == '`' || c == '{' || c == '|' || c == '}') {
      return "\"" + source + "\" is not a URI-reference (percent-encode spaces and other "
             "special characters)";
    }
  }
  return std::nullopt;
}

// The outbox columns, in the order their keys are listed (and duplicates are reported).
struct ColumnField {
  std::string_view name;
  std::string OutboxColumns::*member;
};
constexpr std::array<ColumnField, 6> kColumnFields = {{
    {"id", &OutboxColumns::id},
    {"aggregate_type", &OutboxColumns::aggregate_type},
    {"aggregate_id", &OutboxColumns::aggregate_id},
    {"type", &OutboxColumns::type},
    {"payload", &OutboxColumns::payload},
    {"headers", &OutboxColumns::headers},
}};

KeySpec ColumnKey(std::size_t index) {
  const ColumnField field = kColumnFields[index];
  const auto access = [member = field.member](auto& config) -> auto& {
    return config.outbox.columns.*member;
  };
  return StringKey("outbox.columns." + std::string(field.name), access,
                   [index](const std::string& column, const Config& config) -> Problem {
                     if (Problem problem = CheckIdentifier(column)) return problem;
                     // Two roles on one column would make the event ambiguous.
                     for (std::size_t i = 0; i < index; ++i) {
                       if (config.outbox.columns.*kColumnFields[i].member == column) {
                         return "column \"" + column + "\" is already used by outbox.columns." +
                                std::string(kColumnFields[i].name);
                       }
                     }
                     return std::nullopt;
                   });
}

std::optional<TableName> ParseTableName(const std::string& text) {
  const std::size_t dot = text.find('.');
  TableName table{"public", text};
  if (dot != std::string::npos) table = {text.substr(0, dot), text.substr(dot + 1)};
  if (table.schema.empty() || table.name.empty() || table.name.find('.') != std::string::npos) {
    return std::nullopt;
  }
  return table;
}

KeySpec TablesKey() {
  return {"outbox.tables", "a list of tables",
          [](Config& config, const std::string& text, const std::string& origin) {
            config.outbox.tables.clear();
            for (const std::string& item : SplitList(text)) {
              std::optional<TableName> table = ParseTableName(item);
              if (!table) {
                throw ConfigError(origin, "expected \"schema.table\" or \"table\" entries, got \"" +
                                              item + "\"");
              }
              config.outbox.tables.push_back(std::move(*table));
            }
          },
          [](const Config& config) -> Problem {
            const auto& tables = config.outbox.tables;
            if (tables.empty() && config.outbox.CapturesTables()) {
              return "must name at least one table unless outbox.capture is messages";
            }
            for (std::size_t i = 0; i < tables.size(); ++i) {
              if (Problem problem = CheckIdentifier(tables[i].schema)) return "schema " + *problem;
              if (Problem problem = CheckIdentifier(tables[i].name)) return "table name " + *problem;
              if (std::find(tables.begin(), tables.begin() + static_cast<std::ptrdiff_t>(i),
                            tables[i]) != tables.begin() + static_cast<std::ptrdiff_t>(i)) {
                return "lists " + tables[i].Qualified() + " twice";
              }
            }
            return std::nullopt;
          },
          true};
}

// pg_logical_emit_message prefixes; the relay's own heartbeat prefix is not an outbox.
KeySpec MessagePrefixesKey() {
  return {"outbox.message_prefixes", "a list of prefixes",
          [](Config& config, const std::string& text, const std::string&) {
            config.outbox.message_prefixes = SplitList(text);
          },
          [](const Config& config) -> Problem {
            const auto& prefixes = config.outbox.message_prefixes;
            if (prefixes.empty() && config.outbox.CapturesMessages()) {
              return "must name at least one prefix when outbox.capture is messages or both";
            }
            for (std::size_t i = 0; i < prefixes.size(); ++i) {
              if (prefixes[i].empty()) return "must not contain an empty prefix";
              if (prefixes[i] == kHeartbeatMessagePrefix) {
                return "\"" + prefixes[i] + "\" is the relay's heartbeat prefix";
              }
              if (std::find(prefixes.begin(), prefixes.begin() + static_cast<std::ptrdiff_t>(i),
                            prefixes[i]) != prefixes.begin() + static_cast<std::ptrdiff_t>(i)) {
                return "lists \"" + prefixes[i] + "\" twice";
              }
            }
            return std::nullopt;
          },
          true};
}

}  // namespace

const Choices<EventFormat>& FormatChoices() {
  static const Choices<EventFormat> choices{
      {"payload", EventFormat::kPayload},
      {"envelope", EventFormat::kEnvelope},
      {"cloudevents-binary", EventFormat::kCloudEventsBinary},
      {"cloudevents-structured", EventFormat::kCloudEventsStructured}};
  return choices;
}

// The topic is a template: static text in Kafka's topic alphabet plus {aggregate_type} and
// {type}, filled in per event by the mapper with the same TopicTemplate, so what passes here
// is exactly what the mapper can render.
Problem CheckTopicTemplate(const std::string& topic, const Config&) {
  try {
    const TopicTemplate parsed(topic);
    // A fixed topic can be checked completely now; a template only once it is filled in.
    if (!parsed.HasPlaceholders() && !IsLegalTopicName(topic)) {
      if (topic.size() > kMaxTopicLength) {
        return "must be at most " + std::to_string(kMaxTopicLength) + " characters, got " +
               std::to_string(topic.size());
      }
      return "\"" + topic + "\" is not a legal Kafka topic name";
    }
  } catch (const std::invalid_argument& error) {
    return std::string(error.what());
  }
  return std::nullopt;
}

std::vector<KeySpec> OutboxKeys() {
  std::vector<KeySpec> keys = {
    TablesKey(),
    EnumKey("outbox.capture", [](auto& c) -> auto& { return c.outbox.capture; },
            Choices<CaptureMode>{{"table", CaptureMode::kTable},
                                 {"messages", CaptureMode::kMessages},
                                 {"both", CaptureMode::kBoth}}),
    MessagePrefixesKey(),
    StringKey("outbox.topic", [](auto& c) -> auto& { return c.outbox.topic; },
              CheckTopicTemplate),
    StringKey("outbox.key", [](auto& c) -> auto& { return c.outbox.key; },
              [](const std::string& key, const Config&) -> Problem {
                return key.empty() ? std::nullopt : CheckIdentifier(key);
              }),
    EnumKey("outbox.format", [](auto& c) -> auto& { return c.outbox.format; }, FormatChoices()),
    StringKey("outbox.cloudevents.source",
              [](auto& c) -> auto& { return c.outbox.cloudevents_source; }, CheckUriReference),
  };
  for (std::size_t i = 0; i < kColumnFields.size(); ++i) keys.push_back(ColumnKey(i));
  return keys;
}

}  // namespace outbox_relay::config::detail
