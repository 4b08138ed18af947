#include "support/lsn_text.hpp"

#include <cstdio>

namespace outbox_relay::it {
namespace {

std::optional<std::uint32_t> ParseHex32(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<std::uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = (value << 4) | digit;
  }
  return value;
}

}  // namespace

std::optional<std::uint64_t> ParseLsnText(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto high = ParseHex32(text.substr(0, slash));
  auto low = ParseHex32(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return (static_cast<std::uint64_t>(*high) << 32) | *low;
}

std::string FormatLsn(std::uint64_t lsn) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return buffer;
}

}  // namespace outbox_relay::it
