#include "config/config.hpp"

#include <arpa/inet.h>  // inet_pton
#include <unistd.h>     // environ

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "config/topic_template.hpp"

namespace outbox_relay::config {
namespace {

constexpr std::string_view kEnvPrefix = "OUTBOX_RELAY_";
constexpr std::string_view kKafkaSection = "kafka";
constexpr std::string_view kKafkaEnvPrefix = "KAFKA_";
// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes, so a longer name can never match.
constexpr std::size_t kMaxIdentifierLength = 63;
// Upper bound for the durations (an hour): anything longer is almost surely a unit mistake.
constexpr std::uint64_t kMaxDurationMs = 3'600'000;
// Status updates report the confirmed LSN: more often than 10/s is pure load, and less often
// than once a minute (wal_sender_timeout's default) lets WAL retention lag for no benefit.
constexpr std::uint64_t kMinStatusIntervalMs = 100;
constexpr std::uint64_t kMaxStatusIntervalMs = 60'000;
constexpr std::size_t kMinInFlightBytes = 1024;
constexpr std::string_view kRoutesKey = "outbox.routes";
const std::vector<std::string> kRouteFields = {"source", "aggregate_type", "type",
                                               "topic",  "key",            "format"};

// ---------------------------------------------------------------------------------------------
// Small string helpers.

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool IsKafkaKey(std::string_view key) {
  return StartsWith(key, kKafkaSection) && key.size() > kKafkaSection.size() &&
         key[kKafkaSection.size()] == '.';
}

// A secret key's value may instead come from a file: `<key>_file` names it.
constexpr std::string_view kFileSuffix = "_file";
// The environment spells kafka.<property>_file as OUTBOX_RELAY_KAFKA_<PROPERTY>_FILE, which
// reads back as the property "<property>.file".
constexpr std::string_view kKafkaEnvFileSuffix = ".file";

// A secret is a password or a key: anything larger is the wrong file (or /dev/zero).
constexpr std::size_t kMaxSecretFileBytes = 1 << 20;

// The content of the file at `path`; throws std::runtime_error with the reason (strerror, or
// the size limit) if it cannot be read whole within `max_bytes`.
std::string ReadFileText(const std::string& path, std::size_t max_bytes) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error(std::strerror(errno));
  std::string text;
  std::array<char, 8192> buffer{};
  std::size_t count = 0;
  while (text.size() <= max_bytes && (count = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    text.append(buffer.data(), count);
  }
  // fread on a directory fails with EISDIR; report it like any other read failure.
  const int error = std::ferror(file) != 0 ? errno : 0;
  std::fclose(file);
  if (error != 0) throw std::runtime_error(std::strerror(error));
  if (text.size() > max_bytes) throw std::runtime_error("larger than " + std::to_string(max_bytes) + " bytes");
  return text;
}

// The secret key that `key` reads from a file ("source.password_file" -> "source.password"),
// or "" when `key` is no such variant.
std::string SecretOfFileKey(std::string_view key) {
  if (!key.ends_with(kFileSuffix)) return "";
  std::string secret(key.substr(0, key.size() - kFileSuffix.size()));
  return IsSecretKey(secret) ? secret : "";
}

// How a value appears in an error message: quoted, or withheld for secret keys.
std::string Shown(std::string_view key, std::string_view value) {
  if (IsSecretKey(key)) return "(value hidden)";
  return "\"" + std::string(value) + "\"";
}

// The variable that overrides `key`: "outbox.columns.id" -> "OUTBOX_RELAY_OUTBOX_COLUMNS_ID".
std::string EnvName(std::string_view key) {
  std::string name = Upper(key);
  std::replace(name.begin(), name.end(), '.', '_');
  return std::string(kEnvPrefix) + name;
}

// Optimal string alignment distance: like Levenshtein, but a swap of neighbours ("dns" for
// "dsn", the most common typo) costs one edit instead of two.
std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string DidYouMean(std::string_view name, const std::vector<std::string>& candidates) {
  // One edit per four characters is still a typo; more than that is a different name.
  const std::size_t allowed = std::max<std::size_t>(1, name.size() / 4);
  std::optional<std::string> best;
  std::size_t best_distance = allowed + 1;
  for (const std::string& candidate : candidates) {
    // The lengths' difference is a lower bound of the distance: skipping those candidates
    // keeps a long unknown name from costing a quadratic table per key (found by fuzzing).
    const std::size_t length_gap = std::max(name.size(), candidate.size()) -
                                   std::min(name.size(), candidate.size());
    if (length_gap >= best_distance) continue;
    const std::size_t distance = EditDistance(name, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best ? " (did you mean " + *best + "?)" : "";
}

namespace {

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
// Value conversion, shared by every key of a kind.

std::uint64_t ParseUnsigned(std::string_view key, const std::string& text,
                            const std::string& origin) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    throw ConfigError(origin, "expected a non-negative integer, got " + Shown(key, text));
  }
  if (ec == std::errc::result_out_of_range) {
    throw ConfigError(origin, "integer " + Shown(key, text) + " is out of range");
  }
  return value;
}

// Accepts YAML 1.1's spellings as well, so "yes" works both in the file and in the environment.
std::optional<bool> ParseBool(std::string_view text) {
  const std::string lowered = Lower(text);
  for (std::string_view word : {"true", "yes", "on", "1"}) {
    if (lowered == word) return true;
  }
  for (std::string_view word : {"false", "no", "off", "0"}) {
    if (lowered == word) return false;
  }
  return std::nullopt;
}

Problem CheckRange(std::uint64_t value, std::uint64_t min, std::uint64_t max) {
  if (value < min || value > max) {
    return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
           std::to_string(value);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The key table: one entry per configuration key, used by the YAML walk, the environment
// overrides and validation alike.

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
          [access](Config& config, const std::string& text, const std::string&) {
            access(config) = text;
          },
          [access, check = std::move(check)](const Config& config) {
            return check(access(config), config);
          }};
}

template <typename Access>
KeySpec BoolKey(const std::string& key, Access access) {
  return {key, "a boolean",
          [access, key](Config& config, const std::string& text, const std::string& origin) {
            const std::optional<bool> value = ParseBool(text);
            if (!value) {
              throw ConfigError(origin,
                                "expected a boolean (true or false), got " + Shown(key, text));
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
              return "must be at least " + std::to_string(min) + ", got " +
                     std::to_string(access(config));
            }
            return extra ? extra(config) : std::nullopt;
          }};
}

// --- Per-key checks ---------------------------------------------------------------------------

Problem CheckDsn(const std::string& dsn, const Config&) {
  // Never echo the DSN: it may hold a password.
  if (dsn.empty()) return "is required (a libpq connection string or postgresql:// URI)";
  return std::nullopt;
}

// Values libpq checks itself when it connects (paths, passwords).
Problem AnyText(const std::string&, const Config&) { return std::nullopt; }

// libpq's sslmode values; empty leaves the choice to the DSN (default prefer).
Problem CheckSslMode(const std::string& mode, const Config&) {
  for (std::string_view known : {"", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    if (mode == known) return std::nullopt;
  }
  return "expected one of disable, allow, prefer, require, verify-ca, verify-full, got \"" + mode + "\"";
}

Problem CheckSlotName(const std::string& slot, const Config&) {
  // PostgreSQL's own rule for replication slot names.
  const bool valid_chars = std::all_of(slot.begin(), slot.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (slot.empty() || slot.size() > kMaxIdentifierLength || !valid_chars) {
    return "must be 1 to 63 characters of lower-case letters, digits and underscores, got \"" +
           slot + "\"";
  }
  return std::nullopt;
}

Problem CheckIdentifier(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxIdentifierLength) {
    return "must be at most 63 bytes (PostgreSQL's identifier limit), got \"" + name + "\"";
  }
  return std::nullopt;
}

Problem CheckPublication(const std::string& publication, const Config&) {
  return CheckIdentifier(publication);
}

Problem CheckLogFormat(const std::string& format, const Config&) {
  if (format == "text" || format == "json") return std::nullopt;
  return "expected one of text, json, got \"" + format + "\"";
}

// host:port with a numeric port; the host may be an IPv4 address or a name.
Problem CheckListen(const std::string& listen, const Config&) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return "expected host:port, for example 127.0.0.1:9742, got \"" + listen + "\"";
  }
  const std::string port = listen.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoul(port) > 65535) {
    return "port must be a number from 0 to 65535, got \"" + port + "\"";
  }
  return std::nullopt;
}

Problem CheckLogLevel(const std::string& level, const Config&) {
  for (std::string_view known : {"trace", "debug", "info", "warn", "error"}) {
    if (level == known) return std::nullopt;
  }
  return "expected one of trace, debug, info, warn, error, got \"" + level + "\"";
}

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

// "" is the empty list (YAML's [] joins to it), so every other item must be non-empty.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    std::string item = text.substr(begin, comma - begin);
    const auto first = item.find_first_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(" \t") - first + 1);
    items.push_back(std::move(item));
    begin = comma + 1;
  }
  return items;
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

const Choices<EventFormat>& FormatChoices() {
  static const Choices<EventFormat> kChoices{
      {"payload", EventFormat::kPayload},
      {"envelope", EventFormat::kEnvelope},
      {"cloudevents-binary", EventFormat::kCloudEventsBinary},
      {"cloudevents-structured", EventFormat::kCloudEventsStructured}};
  return kChoices;
}

// A key with a fixed set of spellings, each naming one enum value.
template <typename Access, typename Enum>
KeySpec EnumKey(std::string key, Access access, const Choices<Enum>& choices,
                ConfigCheck check = nullptr) {
  return {std::move(key), "a string",
          [access, choices](Config& config, const std::string& text, const std::string& origin) {
            access(config) = ParseChoice(choices, text, origin);
          },
          [check = std::move(check)](const Config& config) -> Problem {
            return check ? check(config) : std::nullopt;
          }};
}

const std::vector<KeySpec>& Keys() {
  static const std::vector<KeySpec> kKeys = [] {
    std::vector<KeySpec> table = {
        StringKey("source.dsn", [](auto& c) -> auto& { return c.source.dsn; }, CheckDsn),
        StringKey("source.password", [](auto& c) -> auto& { return c.source.password; }, AnyText),
        StringKey("source.sslmode", [](auto& c) -> auto& { return c.source.sslmode; }, CheckSslMode),
        StringKey("source.sslrootcert", [](auto& c) -> auto& { return c.source.sslrootcert; }, AnyText),
        StringKey("source.sslcert", [](auto& c) -> auto& { return c.source.sslcert; }, AnyText),
        StringKey("source.sslkey", [](auto& c) -> auto& { return c.source.sslkey; }, AnyText),
        StringKey("source.sslpassword", [](auto& c) -> auto& { return c.source.sslpassword; }, AnyText),
        StringKey("source.slot", [](auto& c) -> auto& { return c.source.slot; }, CheckSlotName),
        StringKey("source.publication", [](auto& c) -> auto& { return c.source.publication; },
                  CheckPublication),
        BoolKey("source.create_slot", [](auto& c) -> auto& { return c.source.create_slot; }),
        MillisKey("source.status_interval_ms",
                  [](auto& c) -> auto& { return c.source.status_interval; }, kMinStatusIntervalMs,
                  kMaxStatusIntervalMs),
        MillisKey("source.reconnect_backoff_initial_ms",
                  [](auto& c) -> auto& { return c.source.reconnect_backoff_initial; }, 1,
                  kMaxDurationMs),
        MillisKey("source.reconnect_backoff_max_ms",
                  [](auto& c) -> auto& { return c.source.reconnect_backoff_max; }, 1,
                  kMaxDurationMs,
                  [](const Config& c) -> Problem {
                    if (c.source.reconnect_backoff_max < c.source.reconnect_backoff_initial) {
                      return "must be at least source.reconnect_backoff_initial_ms (" +
                             std::to_string(c.source.reconnect_backoff_initial.count()) +
                             "), got " + std::to_string(c.source.reconnect_backoff_max.count());
                    }
                    return std::nullopt;
                  }),
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
    for (std::size_t i = 0; i < kColumnFields.size(); ++i) table.push_back(ColumnKey(i));
    table.push_back(EnumKey("sink.type", [](auto& c) -> auto& { return c.sink.type; },
                            Choices<SinkType>{{"stdout", SinkType::kStdout}, {"kafka", SinkType::kKafka}}));
    table.push_back(EnumKey(
        "delivery", [](auto& c) -> auto& { return c.delivery; },
        Choices<DeliveryMode>{{"at-least-once", DeliveryMode::kAtLeastOnce},
                              {"exactly-once", DeliveryMode::kExactlyOnce}},
        [](const Config& config) -> Problem {
          if (config.delivery == DeliveryMode::kExactlyOnce && config.sink.type != SinkType::kKafka) {
            return "exactly-once needs sink.type: kafka (Kafka transactions)";
          }
          return std::nullopt;
        }));
    table.push_back(CountKey("exactly_once.max_batch_events",
                             [](auto& c) -> auto& { return c.exactly_once.max_batch_events; }, 1));
    table.push_back(MillisKey("exactly_once.max_batch_ms",
                              [](auto& c) -> auto& { return c.exactly_once.max_batch; }, 1,
                              kMaxDurationMs));
    table.push_back(StringKey("exactly_once.checkpoint_topic",
                              [](auto& c) -> auto& { return c.exactly_once.checkpoint_topic; },
                              [](const std::string& topic, const Config&) -> Problem {
                                if (!IsLegalTopicName(topic)) {
                                  return "\"" + topic + "\" is not a legal Kafka topic name";
                                }
                                return std::nullopt;
                              }));
    table.push_back(CountKey("exactly_once.checkpoint_replication_factor",
                             [](auto& c) -> auto& { return c.exactly_once.checkpoint_replication_factor; },
                             0));
    table.push_back(StringKey("exactly_once.transactional_id",
                              [](auto& c) -> auto& { return c.exactly_once.transactional_id; },
                              [](const std::string&, const Config&) -> Problem { return std::nullopt; }));
    table.push_back(MillisKey(
        "exactly_once.transaction_timeout_ms",
        [](auto& c) -> auto& { return c.exactly_once.transaction_timeout; }, 1000, kMaxDurationMs,
        [](const Config& c) -> Problem {
          if (c.exactly_once.max_batch >= c.exactly_once.transaction_timeout) {
            return "must be greater than exactly_once.max_batch_ms";
          }
          return std::nullopt;
        }));
    table.push_back(EnumKey("on_poison", [](auto& c) -> auto& { return c.on_poison; },
                            Choices<PoisonPolicy>{{"fail", PoisonPolicy::kFail},
                                                  {"dead-letter", PoisonPolicy::kDeadLetter}}));
    table.push_back(StringKey("dead_letter.topic", [](auto& c) -> auto& { return c.dead_letter.topic; },
                              [](const std::string& topic, const Config& c) -> Problem {
                                if (!IsLegalTopicName(topic)) {
                                  return "\"" + topic + "\" is not a legal Kafka topic name";
                                }
                                // The relay reads its checkpoints back from that topic.
                                if (topic == c.exactly_once.checkpoint_topic) {
                                  return "must differ from exactly_once.checkpoint_topic";
                                }
                                return std::nullopt;
                              }));
    table.push_back(CountKey("flow.max_in_flight_events",
                             [](auto& c) -> auto& { return c.flow.max_in_flight_events; }, 1));
    table.push_back(CountKey("flow.max_in_flight_bytes",
                             [](auto& c) -> auto& { return c.flow.max_in_flight_bytes; },
                             kMinInFlightBytes));
    table.push_back(
        StringKey("log.level", [](auto& c) -> auto& { return c.log.level; }, CheckLogLevel));
    table.push_back(
        StringKey("log.format", [](auto& c) -> auto& { return c.log.format; }, CheckLogFormat));
    table.push_back(StringKey("http.listen", [](auto& c) -> auto& { return c.http.listen; }, CheckListen));
    table.push_back(MillisKey("heartbeat.interval_ms",
                              [](auto& c) -> auto& { return c.heartbeat.interval; }, 0, kMaxDurationMs));
    table.push_back(CountKey("wal_guard.warn_bytes",
                             [](auto& c) -> auto& { return c.wal_guard.warn_bytes; }, 0));
    table.push_back(CountKey(
        "wal_guard.max_bytes", [](auto& c) -> auto& { return c.wal_guard.max_bytes; }, 0,
        [](const Config& c) -> Problem {
          // A limit below the warning would act before anyone was warned.
          const WalGuardConfig& guard = c.wal_guard;
          if (guard.max_bytes != 0 && guard.warn_bytes != 0 && guard.max_bytes < guard.warn_bytes) {
            return "must be 0 (off) or at least wal_guard.warn_bytes (" +
                   std::to_string(guard.warn_bytes) + "), got " + std::to_string(guard.max_bytes);
          }
          return std::nullopt;
        }));
    table.push_back(EnumKey("wal_guard.action", [](auto& c) -> auto& { return c.wal_guard.action; },
                            Choices<WalGuardAction>{{"alert", WalGuardAction::kAlert},
                                                    {"stop", WalGuardAction::kStop}}));
    table.push_back(MillisKey("wal_guard.poll_interval_ms",
                              [](auto& c) -> auto& { return c.wal_guard.poll_interval; }, 100,
                              kMaxDurationMs));
    table.push_back(SecondsKey("ready.max_lag_seconds",
                               [](auto& c) -> auto& { return c.ready.max_lag; }));
    table.push_back(SecondsKey("ha.takeover_seconds", [](auto& c) -> auto& { return c.ha.takeover; }, 2));
    table.push_back(MillisKey("shutdown.timeout_ms",
                              [](auto& c) -> auto& { return c.shutdown.timeout; }, 1,
                              kMaxDurationMs));
    return table;
  }();
  return kKeys;
}

const KeySpec* FindKey(std::string_view key) {
  for (const KeySpec& spec : Keys()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

// True for "source", "outbox", "outbox.columns", ...: a map whose children are keys.
bool IsSection(std::string_view path) {
  if (path == kKafkaSection) return true;
  return std::any_of(Keys().begin(), Keys().end(), [path](const KeySpec& spec) {
    return StartsWith(spec.key, path) && spec.key.size() > path.size() &&
           spec.key[path.size()] == '.';
  });
}

// Every key and section name, for did-you-mean suggestions in the file.
std::vector<std::string> FileNames() {
  std::vector<std::string> names{std::string(kKafkaSection), std::string(kRoutesKey)};
  for (const KeySpec& spec : Keys()) {
    names.push_back(spec.key);
    for (std::size_t dot = spec.key.find('.'); dot != std::string::npos;
         dot = spec.key.find('.', dot + 1)) {
      names.push_back(spec.key.substr(0, dot));
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Reading the file.

std::string_view Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

// Plain YAML booleans become "true"/"false", the spelling librdkafka accepts; a quoted
// scalar (tag "!") is a string and passes through untouched, as do numbers as written.
std::string KafkaValue(const YAML::Node& node) {
  if (node.Tag() == "?") {
    if (const std::optional<bool> value = ParseBool(node.Scalar());
        value && node.Scalar() != "1" && node.Scalar() != "0") {
      return *value ? "true" : "false";
    }
  }
  return node.Scalar();
}

void Store(RawValues& raw, const std::string& key, std::string text) {
  // yaml-cpp keeps both entries of a repeated key; silently taking one would hide a mistake.
  if (!raw.emplace(key, RawValue{std::move(text), key}).second) {
    throw ConfigError(key, "is set more than once in the file");
  }
}

std::string KeyName(const YAML::Node& key, const std::string& path) {
  if (!key.IsScalar() || key.Scalar().empty()) {
    throw ConfigError(path.empty() ? "config" : path, "keys must be non-empty plain names");
  }
  return path.empty() ? key.Scalar() : path + "." + key.Scalar();
}

// One librdkafka property, or a map of them: nested maps are flattened, so
// `bootstrap: {servers: x}` means the same as `bootstrap.servers: x`.
void CollectKafka(const std::string& key, const YAML::Node& value, RawValues& raw) {
  if (value.IsMap()) {
    for (const auto& entry : value) CollectKafka(KeyName(entry.first, key), entry.second, raw);
  } else if (value.IsScalar()) {
    Store(raw, key, KafkaValue(value));
  } else {
    throw ConfigError(key, "expected a scalar librdkafka property value, got " +
                               std::string(Describe(value)));
  }
}

// A list key written as a YAML sequence: its items joined the way the environment spells it.
std::string JoinSequence(const std::string& key, const YAML::Node& sequence) {
  std::string joined;
  for (std::size_t i = 0; i < sequence.size(); ++i) {
    const YAML::Node& item = sequence[i];
    const std::string where = key + "[" + std::to_string(i) + "]";
    if (!item.IsScalar()) {
      throw ConfigError(where, "expected a name, got " + std::string(Describe(item)));
    }
    if (item.Scalar().find(',') != std::string::npos) {
      throw ConfigError(where, "must not contain a comma, got \"" + item.Scalar() + "\"");
    }
    joined += (i == 0 ? "" : ",") + item.Scalar();
  }
  return joined;
}

std::string RouteKey(std::size_t index, std::string_view name) {
  return std::string(kRoutesKey) + "[" + std::to_string(index) + "]" +
         (name.empty() ? "" : "." + std::string(name));
}

// Routing rules are a sequence of mappings, so they are the one part of the file that is not
// a flat key; each rule's fields are stored under "outbox.routes[i].<field>" for the errors.
void CollectRoutes(const YAML::Node& node, std::vector<RawValues>& routes) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    throw ConfigError(std::string(kRoutesKey),
                      "expected a sequence of rules, got " + std::string(Describe(node)));
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& rule = node[i];
    if (!rule.IsMap()) {
      throw ConfigError(RouteKey(i, ""), "expected a mapping (one rule), got " +
                                             std::string(Describe(rule)));
    }
    RawValues fields;
    for (const auto& entry : rule) {
      const std::string name = KeyName(entry.first, "");
      const std::string key = RouteKey(i, name);
      const auto& known = kRouteFields;
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw ConfigError(key, "unknown routing rule field" +
                                   DidYouMean(name, {known.begin(), known.end()}));
      }
      if (!entry.second.IsScalar()) {
        throw ConfigError(key, "expected a string, got " + std::string(Describe(entry.second)));
      }
      if (!fields.emplace(name, RawValue{entry.second.Scalar(), key}).second) {
        throw ConfigError(key, "is set more than once in the rule");
      }
    }
    routes.push_back(std::move(fields));
  }
}

void CollectSection(const YAML::Node& node, const std::string& path, RawValues& raw,
                    std::vector<RawValues>& routes) {
  for (const auto& entry : node) {
    const std::string key = KeyName(entry.first, path);
    const YAML::Node& value = entry.second;
    if (key == kKafkaSection) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        throw ConfigError(key, "expected a mapping of librdkafka properties, got " +
                                   std::string(Describe(value)));
      }
      CollectKafka(key, value, raw);
    } else if (IsKafkaKey(key)) {
      CollectKafka(key, value, raw);  // written flat at the top level: `kafka.acks: all`
    } else if (key == kRoutesKey) {
      CollectRoutes(value, routes);
    } else if (const KeySpec* spec = FindKey(key)) {
      if (spec->list && value.IsSequence()) {
        Store(raw, key, JoinSequence(key, value));
        continue;
      }
      if (!value.IsScalar()) {
        throw ConfigError(key, "expected " + std::string(spec->expected) + ", got " +
                                   std::string(Describe(value)));
      }
      Store(raw, key, value.Scalar());
    } else if (IsSection(key)) {
      if (value.IsNull()) continue;  // an empty section keeps its defaults
      if (!value.IsMap()) {
        throw ConfigError(key, "expected a mapping (a section), got " +
                                   std::string(Describe(value)));
      }
      CollectSection(value, key, raw, routes);
    } else if (!SecretOfFileKey(key).empty()) {
      if (!value.IsScalar()) {
        throw ConfigError(key, "expected the path of a file, got " + std::string(Describe(value)));
      }
      Store(raw, key, value.Scalar());
    } else {
      throw ConfigError(key, "unknown key" + DidYouMean(key, FileNames()));
    }
  }
}

// Counts the documents of a YAML stream from the parser's events; nothing else is kept.
class DocumentCounter final : public YAML::EventHandler {
 public:
  std::size_t count() const { return count_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 never consumes a stray ',' where a document's node should be: every
    // HandleNextDocument then "reads" another null document at the same place, forever
    // (YAML::LoadAll allocates until memory runs out; found by fuzzing).
    if (count_ > 0 && mark.pos == last_start_.pos) {
      throw YAML::ParserException(mark, "unexpected ','");
    }
    last_start_ = mark;
    ++count_;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::size_t count_ = 0;
  YAML::Mark last_start_;
};

void CollectFile(std::string_view yaml_text, RawValues& raw, std::vector<RawValues>& routes) {
  const std::string text(yaml_text);
  YAML::Node document;
  try {
    // Two documents are enough to refuse the file; only then is the first one loaded.
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.count() < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.count() > 1) throw ConfigError("config", "expected a single YAML document");
    document = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    std::string where;
    if (!e.mark.is_null()) {
      where = " at line " + std::to_string(e.mark.line + 1) + ", column " +
              std::to_string(e.mark.column + 1);
    }
    throw ConfigError("config", "invalid YAML" + where + ": " + e.msg);
  }
  if (document.IsNull()) return;  // empty file or only comments: all defaults
  if (!document.IsMap()) {
    throw ConfigError("config", "expected a mapping of sections at the top level, got " +
                                    std::string(Describe(document)));
  }
  CollectSection(document, "", raw, routes);
}

// ---------------------------------------------------------------------------------------------
// Reading the environment.

bool FromEnvironment(const RawValue& value) { return StartsWith(value.origin, kEnvPrefix); }

// A secret and its `_file` variant are one setting: the environment's replaces the file's,
// and giving both in the same place is an error.
void StoreFromEnvironment(RawValues& raw, const std::string& key, const std::string& value,
                          const std::string& variable) {
  const std::string secret = SecretOfFileKey(key);
  const std::string sibling = !secret.empty() ? secret
                              : IsSecretKey(key) ? key + std::string(kFileSuffix)
                                                 : std::string();
  if (const auto it = raw.find(sibling); !sibling.empty() && it != raw.end()) {
    if (FromEnvironment(it->second)) {
      throw ConfigError(variable, "set either " + EnvName(secret.empty() ? key : secret) + " or " +
                                      EnvName(secret.empty() ? sibling : key) + ", not both");
    }
    raw.erase(it);
  }
  raw[key] = RawValue{value, variable};
}

// Kubernetes gives every pod variables for each Service of its namespace ("service links").
// For a Service named outbox-relay, or outbox-relay-<anything>, they begin with OUTBOX_RELAY_,
// so a Helm release of that name would crash-loop on them. They are recognised by name and
// value, in exactly the shapes the kubelet writes (S: the Service's name in upper case, '-' as
// '_'; P: TCP, UDP or SCTP; N: a port number):
//   S_SERVICE_HOST=<ip>  S_SERVICE_PORT=<N>  S_SERVICE_PORT_<PORT NAME>=<N>
//   S_PORT=<p>://<ip>:<N>  S_PORT_<N>_<P>=<p>://<ip>:<N>
//   S_PORT_<N>_<P>_PROTO=<p>  S_PORT_<N>_<P>_PORT=<N>  S_PORT_<N>_<P>_ADDR=<ip>

bool IsPortNumber(std::string_view text) {
  if (text.empty() || text.size() > 5 || text.front() == '0' ||
      text.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  return std::stoul(std::string(text)) <= 65535;
}

bool IsIpAddress(std::string_view text) {
  const std::string address(text);
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, address.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1;
}

bool IsServiceProtocol(std::string_view word) { return word == "TCP" || word == "UDP" || word == "SCTP"; }

// "<protocol>://<ip>:<port>", IPv6 in brackets; an empty `protocol` or `port` accepts any.
bool IsServiceUrl(std::string_view value, std::string_view protocol, std::string_view port) {
  const std::size_t scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return false;
  const std::string scheme = Upper(value.substr(0, scheme_end));
  if (!IsServiceProtocol(scheme) || value.substr(0, scheme_end) != Lower(scheme) ||
      (!protocol.empty() && scheme != protocol)) {
    return false;
  }
  const std::string_view address = value.substr(scheme_end + 3);
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = address.substr(0, colon);
  const std::string_view host_port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return IsIpAddress(host) && IsPortNumber(host_port) && (port.empty() || host_port == port);
}

// The words after the Service's name: SERVICE_HOST, PORT_8080_TCP_ADDR, ...
bool IsServiceLinkTail(std::span<const std::string_view> tail, std::string_view value) {
  if (tail.size() >= 2 && tail[0] == "SERVICE") {
    if (tail.size() == 2 && tail[1] == "HOST") return IsIpAddress(value);
    return tail[1] == "PORT" && IsPortNumber(value);  // with or without a port name after it
  }
  if (tail.empty() || tail[0] != "PORT") return false;
  if (tail.size() == 1) return IsServiceUrl(value, "", "");
  if (tail.size() < 3 || tail.size() > 4 || !IsPortNumber(tail[1]) || !IsServiceProtocol(tail[2])) return false;
  if (tail.size() == 3) return IsServiceUrl(value, tail[2], tail[1]);
  if (tail[3] == "PROTO") return value == Lower(tail[2]);
  if (tail[3] == "PORT") return value == tail[1];
  return tail[3] == "ADDR" && IsIpAddress(value);
}

bool IsServiceLink(std::string_view variable, std::string_view value) {
  std::vector<std::string_view> words;
  for (std::size_t start = 0;;) {
    const std::size_t end = variable.find('_', start);
    words.push_back(variable.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (words.size() < 3 || words[0] != "OUTBOX" || words[1] != "RELAY") return false;
  // The Service's name is OUTBOX_RELAY plus any number of words: try every split (a view each,
  // so a long name with many words stays linear).
  const std::span<const std::string_view> all(words);
  for (std::size_t name_end = 2; name_end < words.size(); ++name_end) {
    if (IsServiceLinkTail(all.subspan(name_end), value)) return true;
  }
  return false;
}

void CollectEnvironment(const Environment& env, RawValues& raw, std::vector<std::string>& service_links) {
  // Variable -> key, the `_file` variants of secret keys included.
  std::map<std::string, std::string> known;
  for (const KeySpec& spec : Keys()) {
    known.emplace(EnvName(spec.key), spec.key);
    if (IsSecretKey(spec.key)) {
      const std::string file_key = spec.key + std::string(kFileSuffix);
      known.emplace(EnvName(file_key), file_key);
    }
  }

  for (const auto& [variable, value] : env) {
    if (!StartsWith(variable, kEnvPrefix)) continue;
    const std::string_view rest = std::string_view(variable).substr(kEnvPrefix.size());
    if (StartsWith(rest, kKafkaEnvPrefix)) {
      // Kafka Connect's convention: KAFKA_BOOTSTRAP_SERVERS -> bootstrap.servers.
      std::string property = Lower(rest.substr(kKafkaEnvPrefix.size()));
      std::replace(property.begin(), property.end(), '_', '.');
      if (property.empty() || property.front() == '.' || property.back() == '.' ||
          property.find("..") != std::string::npos) {
        throw ConfigError(variable, "does not name a librdkafka property");
      }
      std::string key = "kafka." + property;
      if (key.ends_with(kKafkaEnvFileSuffix)) {
        const std::string secret = key.substr(0, key.size() - kKafkaEnvFileSuffix.size());
        if (IsSecretKey(secret)) key = secret + std::string(kFileSuffix);
      }
      StoreFromEnvironment(raw, key, value, variable);
      continue;
    }
    const auto found = known.find(variable);
    if (found == known.end() && IsServiceLink(variable, value)) {
      service_links.push_back(variable);
      continue;
    }
    if (found == known.end()) {
      std::vector<std::string> names;
      for (const auto& entry : known) names.push_back(entry.first);
      throw ConfigError(variable, "matches no configuration key" + DidYouMean(variable, names));
    }
    StoreFromEnvironment(raw, found->second, value, variable);
  }
}

// Replaces each `<secret key>_file` entry by the secret read from that file, which keeps the
// entry's origin so that errors about the value name the setting that supplied it.
void ResolveSecretFiles(RawValues& raw, const SecretFileReader& read_file) {
  for (auto it = raw.begin(); it != raw.end();) {
    const std::string secret = SecretOfFileKey(it->first);
    if (secret.empty()) {
      ++it;
      continue;
    }
    const RawValue file = it->second;
    if (raw.contains(secret)) {
      throw ConfigError(file.origin, "set either " + secret + " or " + it->first + ", not both");
    }
    if (file.text.empty()) throw ConfigError(file.origin, "expected the path of a file");
    std::string text;
    try {
      text = read_file(file.text);
    } catch (const std::exception& error) {
      throw ConfigError(file.origin, "cannot read " + file.text + ": " + error.what());
    }
    // `echo secret > file` and most secret stores end the file with a line break.
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) throw ConfigError(file.origin, file.text + " is empty");
    raw[secret] = RawValue{std::move(text), file.origin};
    it = raw.erase(it);
  }
}

// ---------------------------------------------------------------------------------------------
// Kafka properties the relay's correctness depends on.

// librdkafka's own reading of a boolean property as true.
bool IsKafkaTrue(const std::string& value) {
  const std::string lowered = Lower(value);
  return lowered == "true" || lowered == "t" || lowered == "1";
}

void CheckKafka(const Config& config, const RawValues& raw) {
  const auto origin = [&raw](const std::string& key) {
    const auto it = raw.find(key);
    return it == raw.end() ? key : it->second.origin;
  };
  const auto find = [&config](const std::string& key) -> const std::string* {
    const auto it = config.kafka.find(key);
    return it == config.kafka.end() ? nullptr : &it->second;
  };

  if (config.sink.type == SinkType::kKafka) {
    const std::string* servers = find("bootstrap.servers");
    const std::string* alias = find("metadata.broker.list");  // librdkafka's older name
    const bool has_servers = (servers != nullptr && !servers->empty()) ||
                             (alias != nullptr && !alias->empty());
    if (!has_servers) {
      throw ConfigError(origin("kafka.bootstrap.servers"),
                        "is required when sink.type is kafka (comma-separated host:port list)");
    }
  }

  if (const std::string* value = find("enable.idempotence"); value && !IsKafkaTrue(*value)) {
    throw ConfigError(origin("kafka.enable.idempotence"),
                      "must not be turned off (got " + Shown("kafka.enable.idempotence", *value) +
                          "): the relay's delivery contract needs the idempotent producer, so "
                          "that retries can neither duplicate nor reorder events; leave it unset "
                          "or set it to true");
  }

  for (const std::string key : {"acks", "request.required.acks"}) {
    const std::string* value = find(key);
    if (value == nullptr) continue;
    if (Lower(*value) != "all" && *value != "-1") {
      throw ConfigError(origin("kafka." + key),
                        "must be all or -1 (got " + Shown("kafka." + key, *value) +
                            "): the relay's delivery contract needs every in-sync replica to "
                            "have an event before its position is confirmed to PostgreSQL");
    }
  }

  // One place owns each of these in exactly-once mode, so a second spelling cannot disagree.
  for (const std::string key : {"transactional.id", "transaction.timeout.ms"}) {
    if (find(key) != nullptr) {
      throw ConfigError(origin("kafka." + key),
                        "is set by the relay; use exactly_once.transactional_id / "
                        "exactly_once.transaction_timeout_ms and delivery: exactly-once");
    }
  }
  if (const std::string* value = find("message.timeout.ms");
      value && config.delivery == DeliveryMode::kExactlyOnce) {
    const std::string key = "kafka.message.timeout.ms";
    if (ParseUnsigned(key, *value, origin(key)) >=
        static_cast<std::uint64_t>(config.exactly_once.transaction_timeout.count())) {
      throw ConfigError(origin(key),
                        "must be below exactly_once.transaction_timeout_ms: a message that "
                        "times out after its transaction did leaves the outcome ambiguous");
    }
  }

  if (const std::string* value = find("queue.buffering.max.messages")) {
    const std::string key = "kafka.queue.buffering.max.messages";
    const std::uint64_t limit = ParseUnsigned(key, *value, origin(key));
    if (limit <= config.flow.max_in_flight_events) {
      throw ConfigError(origin(key),
                        "must be greater than flow.max_in_flight_events (" +
                            std::to_string(config.flow.max_in_flight_events) + "), got " +
                            std::to_string(limit) +
                            ": the relay's own in-flight cap has to be what pauses reading from "
                            "PostgreSQL, before librdkafka's queue fills up and rejects events");
    }
  }
}

// The `source` values events of this configuration can carry, as the mapper spells them.
std::vector<std::string> CapturedSources(const OutboxConfig& outbox) {
  std::vector<std::string> sources;
  if (outbox.CapturesTables()) {
    for (const TableName& table : outbox.tables) sources.push_back("table:" + table.Qualified());
  }
  if (outbox.CapturesMessages()) {
    for (const std::string& prefix : outbox.message_prefixes) sources.push_back("message:" + prefix);
  }
  return sources;
}

void AssignRoutes(Config& config, const std::vector<RawValues>& routes) {
  const std::vector<std::string> sources = CapturedSources(config.outbox);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RawValues& fields = routes[i];
    const auto field = [&fields](const char* name) -> std::string {
      const auto it = fields.find(name);
      return it == fields.end() ? "" : it->second.text;
    };
    RouteConfig route{field("source"), field("aggregate_type"), field("type"),
                      field("topic"),  field("key"),            std::nullopt};
    if (const std::string format = field("format"); !format.empty()) {
      route.format = ParseChoice(FormatChoices(), format, RouteKey(i, "format"));
    }
    if (route.topic.empty() && route.key.empty() && !route.format) {
      throw ConfigError(RouteKey(i, ""), "sets none of topic, key, format, so it changes nothing");
    }
    if (!route.source.empty() &&
        std::find(sources.begin(), sources.end(), route.source) == sources.end()) {
      std::string captured;
      for (const std::string& source : sources) captured += (captured.empty() ? "" : ", ") + source;
      throw ConfigError(RouteKey(i, "source"), "\"" + route.source +
                                                   "\" matches no captured source (captured: " +
                                                   captured + ")");
    }
    if (!route.topic.empty()) {
      if (Problem problem = CheckTopicTemplate(route.topic, config)) {
        throw ConfigError(RouteKey(i, "topic"), *problem);
      }
    }
    if (!route.key.empty()) {
      if (Problem problem = CheckIdentifier(route.key)) throw ConfigError(RouteKey(i, "key"), *problem);
    }
    config.outbox.routes.push_back(std::move(route));
  }
}

}  // namespace

Config ParseConfig(std::string_view yaml_text, const Environment& env,
                   const SecretFileReader& read_file) {
  RawValues raw;
  std::vector<RawValues> routes;
  CollectFile(yaml_text, raw, routes);
  Config config;
  CollectEnvironment(env, raw, config.ignored_service_links);
  ResolveSecretFiles(raw, read_file);

  for (const KeySpec& spec : Keys()) {
    if (const auto it = raw.find(spec.key); it != raw.end()) {
      spec.assign(config, it->second.text, it->second.origin);
    }
  }
  for (const auto& [key, value] : raw) {
    if (IsKafkaKey(key)) config.kafka[key.substr(kKafkaSection.size() + 1)] = value.text;
  }

  for (const KeySpec& spec : Keys()) {
    if (Problem problem = spec.check(config)) {
      const auto it = raw.find(spec.key);
      throw ConfigError(it == raw.end() ? spec.key : it->second.origin, *problem);
    }
  }
  // A default sink would be a silent one: stdout confirms the slot, so events meant for Kafka
  // would be gone. Kafka settings say Kafka; without them the user must say.
  if (!raw.contains("sink.type")) {
    if (config.kafka.empty()) {
      throw ConfigError("sink.type",
                        "is not set and there are no kafka settings: set sink.type: kafka (with "
                        "kafka.bootstrap.servers) to publish to Kafka, or sink.type: stdout to print "
                        "the events");
    }
    config.sink.type = SinkType::kKafka;
    config.sink.chosen_by_kafka_section = true;
  }
  AssignRoutes(config, routes);
  CheckKafka(config, raw);
  return config;
}

std::string ReadSecretFile(const std::string& path) { return ReadFileText(path, kMaxSecretFileBytes); }

Config LoadConfig(const std::string& path, const Environment& env) {
  if (path.empty()) return ParseConfig("", env);
  std::string text;
  try {
    text = ReadFileText(path, std::numeric_limits<std::size_t>::max());
  } catch (const std::runtime_error& error) {
    throw ConfigError("config", "cannot read " + path + ": " + error.what());
  }
  return ParseConfig(text, env);
}

bool IsSecretKey(std::string_view key) {
  if (key == "source.dsn" || key == "source.password" || key == "source.sslpassword") return true;
  if (!IsKafkaKey(key)) return false;
  const std::string property = Lower(key.substr(kKafkaSection.size() + 1));
  // An inline private key, and the OAUTHBEARER config that may hold a client secret.
  if (property == "ssl.key.pem" || property == "sasl.oauthbearer.config") return true;
  return property.find("password") != std::string::npos ||
         property.find("secret") != std::string::npos;
}

std::vector<std::string> SecretValues(const Config& config) {
  std::vector<std::string> values;
  for (const std::string* value : {&config.source.password, &config.source.sslpassword}) {
    if (!value->empty()) values.push_back(*value);
  }
  for (const auto& [property, value] : config.kafka) {
    if (!value.empty() && IsSecretKey(std::string(kKafkaSection) + "." + property)) values.push_back(value);
  }
  return values;
}

std::vector<std::string> ConfigurationKeys() {
  std::vector<std::string> keys{std::string(kKafkaSection) + ".*", std::string(kRoutesKey)};
  for (const KeySpec& spec : Keys()) keys.push_back(spec.key);
  return keys;
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!StartsWith(text, kEnvPrefix)) continue;
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

}  // namespace outbox_relay::config
