#pragma once

// How the operator commands (check, init, status) write: one line per outcome, a problem's hint
// indented under it, every line flushed at once so that an operator watching a slow check sees
// progress. The text helpers are pure.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace outbox_relay::ops::detail {

/// What goes before a hint, under the line of its problem.
inline constexpr std::string_view kHintIndent = "     hint: ";

/// Lines on a command's output stream. Not thread-safe (one command, one thread).
class CommandOutput {
 public:
  explicit CommandOutput(std::ostream& out) : out_(out) {}

  /// "<tag><text>", e.g. tag "ok   " or "created ".
  void Line(std::string_view tag, std::string_view text);
  /// "<tag><what>: <problem>", then "     hint: <hint>" under it.
  void Problem(std::string_view tag, std::string_view what, std::string_view problem, std::string_view hint);

 private:
  std::ostream& out_;
};

/// `text` on one line: runs of spaces, tabs and line breaks become one space, none at either
/// end. libpq's messages span lines ("...failed: Connection refused\n\tIs the server
/// running..."); a command prints one line per problem.
std::string OneLine(std::string_view text);

/// "512 B", "1.5 KiB", ... "3.0 TiB": binary units, one decimal above bytes.
std::string HumanBytes(std::int64_t bytes);

}  // namespace outbox_relay::ops::detail
