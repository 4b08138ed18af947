#pragma once

// Reads a table of README.md for the tests that keep the docs and the code in step.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace outbox_relay::test_support {

/// README.md of the source tree (OUTBOX_RELAY_SOURCE_DIR, set by tests/CMakeLists.txt).
inline std::string ReadReadme() {
  std::ifstream in(std::string(OUTBOX_RELAY_SOURCE_DIR) + "/README.md");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The cells of each body row of the first table under the heading line `heading` (for
/// example "## Metrics"); the header and separator rows are left out. Empty if there is none.
inline std::vector<std::vector<std::string>> TableUnder(const std::string& markdown, const std::string& heading) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(markdown);
  std::string line;
  bool in_section = false;
  int table_line = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) {
      if (in_section) break;
      in_section = line == heading;
      continue;
    }
    if (!in_section) continue;
    if (!line.starts_with("|")) {
      if (table_line > 0) break;  // the table ended
      continue;
    }
    if (table_line++ < 2) continue;  // header and |---| rows
    std::vector<std::string> cells;
    std::string cell;
    bool in_code = false;
    for (std::size_t i = 1; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '`') in_code = !in_code;
      if (c == '|' && !in_code) {
        const auto first = cell.find_first_not_of(' ');
        const auto last = cell.find_last_not_of(' ');
        cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
        cell.clear();
      } else {
        cell += c;
      }
    }
    rows.push_back(std::move(cells));
  }
  return rows;
}

/// The `code spans` of a cell, in order.
inline std::vector<std::string> CodeSpans(const std::string& cell) {
  std::vector<std::string> spans;
  for (std::size_t open = cell.find('`'); open != std::string::npos; open = cell.find('`', open + 1)) {
    const std::size_t close = cell.find('`', open + 1);
    if (close == std::string::npos) break;
    spans.push_back(cell.substr(open + 1, close - open - 1));
    open = close;
  }
  return spans;
}

}  // namespace outbox_relay::test_support
