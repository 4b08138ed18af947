#pragma once

// Private to config/: what the steps of ParseConfig share (namespace detail). Other libraries
// include config/config.hpp only.
//
// ParseConfig (config.cpp) runs the steps in this order:
//   yaml_file.cpp        the file's keys as raw text, routing rules apart
//   environment.cpp      OUTBOX_RELAY_* variables over them (service_links.cpp: ignored ones)
//   secrets.cpp          `<secret key>_file` settings replaced by the files' contents
//   key_table.cpp        each key's text converted into the Config, then each key checked
//                        (the keys per section: source_keys.cpp, outbox_keys.cpp,
//                        delivery_keys.cpp, operational_keys.cpp)
//   routes.cpp           outbox.routes
//   inbox_keys.cpp       inbox.handlers
//   kafka_properties.cpp the kafka.* properties the delivery contract depends on

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace outbox_relay::config::detail {

inline constexpr std::string_view kEnvPrefix = "OUTBOX_RELAY_";
inline constexpr std::string_view kKafkaSection = "kafka";
inline constexpr std::string_view kRoutesKey = "outbox.routes";
inline constexpr std::string_view kInboxHandlersKey = "inbox.handlers";
// A secret key's value may instead come from a file: `<key>_file` names it.
inline constexpr std::string_view kFileSuffix = "_file";
// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes, so a longer name can never match.
inline constexpr std::size_t kMaxIdentifierLength = 63;
// Upper bound for the durations (an hour): anything longer is almost surely a unit mistake.
inline constexpr std::uint64_t kMaxDurationMs = 3'600'000;

// ---------------------------------------------------------------------------------------------
// Raw values: what the file and the environment say, before any conversion. Both sources are
// merged here first (the environment overwriting the file), so conversion and validation run
// once, on the merged result.

struct RawValue {
  std::string text;
  std::string origin;  // what errors name: the dotted key (file) or the variable (environment)
};

// Dotted key -> value; holds table keys and "kafka.<property>" keys.
using RawValues = std::map<std::string, RawValue>;

// A problem found by a check; the caller decides which key to name.
using Problem = std::optional<std::string>;

// ---------------------------------------------------------------------------------------------
// Text and values, shared by every key of a kind (values.cpp).

std::string Lower(std::string_view text);
std::string Upper(std::string_view text);
bool StartsWith(std::string_view text, std::string_view prefix);

// The integer `text` spells; throws ConfigError(origin, ...) naming the value as Shown() does.
std::uint64_t ParseUnsigned(std::string_view key, const std::string& text, const std::string& origin);
// Accepts YAML 1.1's spellings as well, so "yes" works both in the file and in the environment.
std::optional<bool> ParseBool(std::string_view text);
Problem CheckRange(std::uint64_t value, std::uint64_t min, std::uint64_t max);
// A list key's items; "" is the empty list (YAML's [] joins to it).
std::vector<std::string> SplitList(const std::string& text);
// A PostgreSQL identifier: not empty, at most 63 bytes.
Problem CheckIdentifier(const std::string& name);
// The check of a string key that takes any text: values libpq checks itself when it connects
// (paths, passwords), ids the broker checks.
Problem AnyText(const std::string& text, const Config& config);

template <typename Enum>
using Choices = std::vector<std::pair<std::string, Enum>>;

// The enum value `text` spells; throws ConfigError(origin, ...) listing the spellings.
template <typename Enum>
Enum ParseChoice(const Choices<Enum>& choices, const std::string& text, const std::string& origin) {
  std::string names;
  for (const auto& [name, value] : choices) {
    if (text == name) return value;
    names += (names.empty() ? "" : ", ") + name;
  }
  throw ConfigError(origin, "expected one of " + names + ", got \"" + text + "\"");
}

// ---------------------------------------------------------------------------------------------
// The steps of ParseConfig, in order.

// The lists of rules (outbox.routes, inbox.handlers): the file's one place that is not a flat
// key. Per list key, one RawValues per rule, fields by name (origin: "outbox.routes[2].topic").
using RuleLists = std::map<std::string, std::vector<RawValues>, std::less<>>;

// A list of rules and the fields its rules may set (checked by yaml_file.cpp).
struct RuleListSpec {
  std::string_view key;
  std::vector<std::string> fields;
};
const std::vector<RuleListSpec>& RuleListSpecs();

// How errors name a rule or its field: "outbox.routes[2]", "outbox.routes[2].topic".
std::string RuleKey(std::string_view list, std::size_t index, std::string_view field);

// yaml_file.cpp: the file's keys into `raw` (origin: the dotted key), its lists of rules into
// `rules`. Throws ConfigError naming the key, or "config" for YAML that does not parse.
void CollectFile(std::string_view yaml_text, RawValues& raw, RuleLists& rules);

// environment.cpp: the OUTBOX_RELAY_* variables of `env` over `raw` (origin: the variable);
// Kubernetes service links are skipped and listed in `service_links`.
void CollectEnvironment(const Environment& env, RawValues& raw, std::vector<std::string>& service_links);

// service_links.cpp: true when `variable`=`value` has exactly the shape of a variable the
// kubelet injects for a Service named outbox-relay or outbox-relay-<anything>.
bool IsServiceLink(std::string_view variable, std::string_view value);

// secrets.cpp: the secret key that `key` reads from a file ("source.password_file" ->
// "source.password"), or "" when `key` is no such variant.
std::string SecretOfFileKey(std::string_view key);
// secrets.cpp: how a value appears in an error message: quoted, or withheld for secret keys.
std::string Shown(std::string_view key, std::string_view value);
// secrets.cpp: replaces each `<secret key>_file` entry by the secret read from that file.
void ResolveSecretFiles(RawValues& raw, const SecretFileReader& read_file);

// outbox_keys.cpp, also for routing rules: outbox.format's spellings, and the topic check.
const Choices<EventFormat>& FormatChoices();
Problem CheckTopicTemplate(const std::string& topic, const Config& config);

// routes.cpp: converts and checks the rules CollectFile found into config.outbox.routes.
void AssignRoutes(Config& config, const std::vector<RawValues>& routes);
// inbox_keys.cpp: the same for inbox.handlers.
void AssignInboxHandlers(Config& config, const std::vector<RawValues>& handlers);

// kafka_properties.cpp: the kafka.* properties the relay's delivery contract depends on;
// throws ConfigError naming the key or variable that set the offending value.
void CheckKafka(const Config& config, const RawValues& raw);

// config.cpp: the content of the file at `path`; throws std::runtime_error with the reason
// (strerror, or the size limit) if it cannot be read whole within `max_bytes`.
std::string ReadFileText(const std::string& path, std::size_t max_bytes);

}  // namespace outbox_relay::config::detail
