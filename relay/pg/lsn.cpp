#include "relay/pg/lsn.hpp"

#include <charconv>

#include <fmt/compile.h>

namespace outbox_relay::pg {

namespace {

std::optional<std::uint32_t> ParseHex32(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<Lsn> Lsn::Parse(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto high = ParseHex32(text.substr(0, slash));
  const auto low = ParseHex32(text.substr(slash + 1));
  if (!high || !low) return std::nullopt;
  return Lsn((std::uint64_t{*high} << 32) | *low);
}

// Compiled format: once per transaction, the runtime-parsed one showed in profiles.
std::string Lsn::ToString() const {
  return fmt::format(FMT_COMPILE("{:X}/{:X}"), value_ >> 32, value_ & 0xFFFFFFFFu);
}

}  // namespace outbox_relay::pg
