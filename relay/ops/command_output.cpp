#include "relay/ops/command_output.hpp"

#include <array>
#include <cstdio>
#include <ostream>

namespace outbox_relay::ops::detail {

void CommandOutput::Line(std::string_view tag, std::string_view text) {
  out_ << tag << text << "\n" << std::flush;
}

void CommandOutput::Problem(std::string_view tag, std::string_view what, std::string_view problem,
                            std::string_view hint) {
  out_ << tag << what << ": " << problem << "\n" << kHintIndent << hint << "\n" << std::flush;
}

std::string OneLine(std::string_view text) {
  std::string line;
  bool pending_space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      pending_space = !line.empty();
      continue;
    }
    if (pending_space) line += ' ';
    pending_space = false;
    line += c;
  }
  return line;
}

std::string HumanBytes(std::int64_t bytes) {
  constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while ((value >= 1024 || value <= -1024) && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  if (unit == 0) {
    std::snprintf(buffer, sizeof buffer, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1f %s", value, kUnits[unit]);
  }
  return buffer;
}

}  // namespace outbox_relay::ops::detail
