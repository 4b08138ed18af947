#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outbox_relay::pg {

/// A PostgreSQL WAL position (XLogRecPtr). Value type, totally ordered.
class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(std::uint64_t value) : value_(value) {}

  /// Parses the server's text form "16/B374D848"; nullopt on anything else.
  static std::optional<Lsn> Parse(std::string_view text);

  /// The server's text form, upper-case hex: "16/B374D848".
  std::string ToString() const;

  constexpr std::uint64_t Value() const { return value_; }
  constexpr bool IsZero() const { return value_ == 0; }

  friend constexpr auto operator<=>(Lsn, Lsn) = default;

 private:
  std::uint64_t value_ = 0;
};

}  // namespace outbox_relay::pg
