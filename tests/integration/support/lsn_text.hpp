#pragma once

// The tests' own reading of PostgreSQL's LSN text form ("16/B374D848"), kept independent of
// the relay's code on purpose: the oracle must not share the implementation under test.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outbox_relay::it {

/// "X/Y" (hex, upper or lower case) → 64-bit position; nullopt on anything else.
std::optional<std::uint64_t> ParseLsnText(std::string_view text);

/// 64-bit position → "X/Y" in upper-case hex, as PostgreSQL prints it.
std::string FormatLsn(std::uint64_t lsn);

}  // namespace outbox_relay::it
