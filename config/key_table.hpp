#pragma once

// Private to config/ (namespace detail): the key table. One KeySpec per configuration key, used
// by the YAML walk, the environment overrides and validation alike; each section's keys are
// declared with the builders below in <section>_keys.cpp, and key_table.cpp joins them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"

namespace outbox_relay::config::detail {

struct KeySpec {
  std::string key;
  std::string_view expected;  // the type, as named in errors: "a string", "an integer", ...
  // Converts the merged text into the Config field; throws ConfigError(origin, ...) on a
  // value of the wrong type.
  std::function<void(Config&, const std::string& text, const std::string& origin)> assign;
  // Runs after every key is assigned, so it may look at other fields.
  std::function<Problem(const Config&)> check;
  // A list: a YAML sequence of scalars, or one comma-separated string (the environment's form).
  bool list = false;
};

using StringCheck = std::function<Problem(const std::string&, const Config&)>;

// `access` is a generic lambda returning a reference to the field, so the same accessor
// serves the mutable Config (assign) and the const one (check).
template <typename Access>
KeySpec StringKey(std::string key, Access access, StringCheck check) {
  return {std::move(key), "a string",
          [access](Config& config, const std::string& text, const std::string&) { access(config) = text; },
          [access, check = std::move(check)](const Config& config) { return check(access(config), config); }};
}

template <typename Access>
KeySpec BoolKey(const std::string& key, Access access) {
  return {key, "a boolean",
          [access, key](Config& config, const std::string& text, const std::string& origin) {
            const std::optional<bool> value = ParseBool(text);
            if (!value) {
              throw ConfigError(origin, "expected a boolean (true or false), got " + Shown(key, text));
            }
            access(config) = *value;
          },
          [](const Config&) -> Problem { return std::nullopt; }};
}

using ConfigCheck = std::function<Problem(const Config&)>;

template <typename Access>
KeySpec MillisKey(const std::string& key, Access access, std::uint64_t min, std::uint64_t max,
                  ConfigCheck extra = nullptr) {
  return {key, "an integer (milliseconds)",
          [access, key](Config& config, const std::string& text, const std::string& origin) {
            const std::uint64_t ms = ParseUnsigned(key, text, origin);
            // Past int64 the chrono conversion would wrap; the check reports the rest.
            if (ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
              throw ConfigError(origin, "integer " + Shown(key, text) + " is out of range");
            }
            access(config) = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
          },
          [access, min, max, extra = std::move(extra)](const Config& config) -> Problem {
            const auto ms = static_cast<std::uint64_t>(access(config).count());
            if (Problem problem = CheckRange(ms, min, max)) return *problem + " (milliseconds)";
            return extra ? extra(config) : std::nullopt;
          }};
}

template <typename Access>
KeySpec SecondsKey(const std::string& key, Access access, std::uint64_t min = 0) {
  return {key, "an integer (seconds)",
          [access, key](Config& config, const std::string& text, const std::string& origin) {
            const std::uint64_t seconds = ParseUnsigned(key, text, origin);
            if (seconds > kMaxDurationMs / 1000) {
              throw ConfigError(origin, "integer " + Shown(key, text) + " is out of range");
            }
            access(config) = std::chrono::seconds(static_cast<std::int64_t>(seconds));
          },
          [access, min](const Config& config) -> Problem {
            const auto seconds = static_cast<std::uint64_t>(access(config).count());
            if (Problem problem = CheckRange(seconds, min, kMaxDurationMs / 1000)) return *problem + " (seconds)";
            return std::nullopt;
          }};
}

template <typename Access>
KeySpec CountKey(const std::string& key, Access access, std::size_t min, ConfigCheck extra = nullptr) {
  return {key, "an integer",
          [access, key](Config& config, const std::string& text, const std::string& origin) {
            const std::uint64_t value = ParseUnsigned(key, text, origin);
            if (value > std::numeric_limits<std::size_t>::max()) {
              throw ConfigError(origin, "integer " + Shown(key, text) + " is out of range");
            }
            access(config) = static_cast<std::size_t>(value);
          },
          [access, min, extra = std::move(extra)](const Config& config) -> Problem {
            if (access(config) < min) {
              return "must be at least " + std::to_string(min) + ", got " + std::to_string(access(config));
            }
            return extra ? extra(config) : std::nullopt;
          }};
}

// A key with a fixed set of spellings, each naming one enum value.
template <typename Access, typename Enum>
KeySpec EnumKey(std::string key, Access access, const Choices<Enum>& choices, ConfigCheck check = nullptr) {
  return {std::move(key), "a string",
          [access, choices](Config& config, const std::string& text, const std::string& origin) {
            access(config) = ParseChoice(choices, text, origin);
          },
          [check = std::move(check)](const Config& config) -> Problem {
            return check ? check(config) : std::nullopt;
          }};
}

// The table, in the order keys are assigned and checked (so the first bad key is the one
// named): source, outbox, delivery, operational keys.
const std::vector<KeySpec>& Keys();
// The spec of a key of the table, or nullptr.
const KeySpec* FindKey(std::string_view key);
// True for "source", "outbox", "outbox.columns", ...: a map whose children are keys.
bool IsSection(std::string_view path);
// Every key and section name, for did-you-mean suggestions in the file.
std::vector<std::string> FileNames();
// "kafka.<property>": a librdkafka property, passed through.
bool IsKafkaKey(std::string_view key);

// Each section's keys, in table order.
std::vector<KeySpec> SourceKeys();       // source.* (source_keys.cpp)
std::vector<KeySpec> OutboxKeys();       // outbox.* but routes (outbox_keys.cpp)
std::vector<KeySpec> DeliveryKeys();     // sink.type, delivery, exactly_once.*, on_poison,
                                      // dead_letter.* (delivery_keys.cpp)
std::vector<KeySpec> RabbitMqKeys();     // rabbitmq.* (rabbitmq_keys.cpp)
std::vector<KeySpec> InboxKeys();        // inbox.* but handlers (inbox_keys.cpp)
std::vector<KeySpec> OperationalKeys();  // flow, log, http, heartbeat, wal_guard, ready, ha,
                                         // shutdown (operational_keys.cpp)

}  // namespace outbox_relay::config::detail
