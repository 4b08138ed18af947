// inbox.*: the consumer of `outbox-relay inbox`, and inbox.handlers, its rules.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"
#include "config/topic_template.hpp"

namespace outbox_relay::config {

std::vector<std::string> InboxConfig::Topics() const {
  std::vector<std::string> topics;
  const auto add = [&topics](const std::string& topic) {
    if (std::find(topics.begin(), topics.end(), topic) == topics.end()) topics.push_back(topic);
  };
  for (const InboxHandlerConfig& handler : handlers) add(handler.topic);
  for (const std::string& partition : partitions) add(partition.substr(0, partition.rfind(':')));
  return topics;
}

namespace detail {
namespace {

Problem CheckTopic(const std::string& topic) {
  if (!IsLegalTopicName(topic)) return "\"" + topic + "\" is not a legal Kafka topic name";
  return std::nullopt;
}

// "name" or "schema.name", each part a PostgreSQL identifier as written (no quoting).
Problem CheckFunctionName(const std::string& function) {
  const std::size_t dot = function.find('.');
  const std::string schema = dot == std::string::npos ? "" : function.substr(0, dot);
  const std::string name = dot == std::string::npos ? function : function.substr(dot + 1);
  if (dot != std::string::npos) {
    if (Problem problem = CheckIdentifier(schema)) return "schema " + *problem;
  }
  if (name.find('.') != std::string::npos)
    return "expected \"schema.function\" or \"function\", got \"" + function + "\"";
  if (Problem problem = CheckIdentifier(name)) return "function name " + *problem;
  return std::nullopt;
}

// "topic:partition", the partition a number.
Problem CheckStaticPartition(const std::string& item) {
  const std::size_t colon = item.rfind(':');
  const std::string number = colon == std::string::npos ? "" : item.substr(colon + 1);
  if (number.empty() || number.size() > 9 ||
      !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "expected \"topic:partition\" entries, got \"" + item + "\"";
  }
  return CheckTopic(item.substr(0, colon));
}

KeySpec PartitionsKey() {
  return {"inbox.partitions", "a list of topic:partition entries",
          [](Config& config, const std::string& text, const std::string&) {
            config.inbox.partitions = SplitList(text);
          },
          [](const Config& config) -> Problem {
            const auto& partitions = config.inbox.partitions;
            for (std::size_t i = 0; i < partitions.size(); ++i) {
              if (Problem problem = CheckStaticPartition(partitions[i])) return problem;
              if (std::find(partitions.begin(), partitions.begin() + static_cast<std::ptrdiff_t>(i),
                            partitions[i]) != partitions.begin() + static_cast<std::ptrdiff_t>(i)) {
                return "lists \"" + partitions[i] + "\" twice";
              }
            }
            return std::nullopt;
          },
          true};
}

}  // namespace

std::vector<KeySpec> InboxKeys() {
  return {
      StringKey(
          "inbox.name", [](auto& c) -> auto& { return c.inbox.name; },
          [](const std::string& name, const Config&) -> Problem {
            return name.empty() ? Problem("must not be empty") : std::nullopt;
          }),
      StringKey(
          "inbox.group_id", [](auto& c) -> auto& { return c.inbox.group_id; }, AnyText),
      PartitionsKey(),
      EnumKey(
          "inbox.format", [](auto& c) -> auto& { return c.inbox.format; }, FormatChoices()),
      CountKey(
          "inbox.batch_size", [](auto& c) -> auto& { return c.inbox.batch_size; }, 1,
          [](const Config& c) -> Problem {
            if (c.inbox.batch_size > 100000) {
              return "must be at most 100000, got " + std::to_string(c.inbox.batch_size);
            }
            return std::nullopt;
          }),
      MillisKey(
          "inbox.batch_wait_ms", [](auto& c) -> auto& { return c.inbox.batch_wait; }, 0, 60000),
      EnumKey(
          "inbox.on_poison", [](auto& c) -> auto& { return c.inbox.on_poison; },
          Choices<PoisonPolicy>{{"fail", PoisonPolicy::kFail}, {"dead-letter", PoisonPolicy::kDeadLetter}}),
      StringKey(
          "inbox.dead_letter_topic", [](auto& c) -> auto& { return c.inbox.dead_letter_topic; },
          [](const std::string& topic, const Config&) { return CheckTopic(topic); }),
      EnumKey(
          "inbox.unhandled", [](auto& c) -> auto& { return c.inbox.unhandled; },
          Choices<UnhandledPolicy>{{"skip", UnhandledPolicy::kSkip}, {"fail", UnhandledPolicy::kFail}}),
      MillisKey(
          "inbox.retry_backoff_initial_ms", [](auto& c) -> auto& { return c.inbox.retry_backoff_initial; }, 1,
          kMaxDurationMs),
      MillisKey(
          "inbox.retry_backoff_max_ms", [](auto& c) -> auto& { return c.inbox.retry_backoff_max; }, 1,
          kMaxDurationMs,
          [](const Config& c) -> Problem {
            if (c.inbox.retry_backoff_max < c.inbox.retry_backoff_initial) {
              return "must be at least inbox.retry_backoff_initial_ms";
            }
            return std::nullopt;
          }),
  };
}

void AssignInboxHandlers(Config& config, const std::vector<RawValues>& handlers) {
  for (std::size_t i = 0; i < handlers.size(); ++i) {
    const RawValues& fields = handlers[i];
    const auto field = [&fields](const char* name) -> std::string {
      const auto it = fields.find(name);
      return it == fields.end() ? "" : it->second.text;
    };
    InboxHandlerConfig handler{field("topic"), field("type"), field("function")};
    if (handler.topic.empty()) throw ConfigError(RuleKey(kInboxHandlersKey, i, "topic"), "is required");
    if (Problem problem = CheckTopic(handler.topic)) {
      throw ConfigError(RuleKey(kInboxHandlersKey, i, "topic"), *problem);
    }
    if (handler.function.empty()) throw ConfigError(RuleKey(kInboxHandlersKey, i, "function"), "is required");
    if (Problem problem = CheckFunctionName(handler.function)) {
      throw ConfigError(RuleKey(kInboxHandlersKey, i, "function"), *problem);
    }
    for (std::size_t j = 0; j < config.inbox.handlers.size(); ++j) {
      const InboxHandlerConfig& earlier = config.inbox.handlers[j];
      if (earlier.topic == handler.topic && (earlier.type.empty() || earlier.type == handler.type)) {
        throw ConfigError(RuleKey(kInboxHandlersKey, i, ""),
                          "is never used: " + RuleKey(kInboxHandlersKey, j, "") + " takes its events first");
      }
    }
    config.inbox.handlers.push_back(std::move(handler));
  }
  // Known only now that the handlers are: a dead letter must not come back as an event.
  const std::vector<std::string> topics = config.inbox.Topics();
  if (std::find(topics.begin(), topics.end(), config.inbox.dead_letter_topic) != topics.end()) {
    throw ConfigError("inbox.dead_letter_topic",
                      "\"" + config.inbox.dead_letter_topic + "\" is a topic the inbox consumes");
  }
}

}  // namespace detail
}  // namespace outbox_relay::config
