// Text helpers and the conversions and checks shared by every key of a kind: integers,
// booleans, ranges, lists and PostgreSQL identifiers.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"

namespace outbox_relay::config::detail {

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

Problem CheckIdentifier(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxIdentifierLength) {
    return "must be at most 63 bytes (PostgreSQL's identifier limit), got \"" + name + "\"";
  }
  return std::nullopt;
}

Problem AnyText(const std::string&, const Config&) { return std::nullopt; }

}  // namespace outbox_relay::config::detail
