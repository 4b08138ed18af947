// README.md's commands table and the command line the relay parses list the same commands and
// options.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "relay/app/command_line.hpp"
#include "tests/unit/support/readme_table.hpp"

namespace outbox_relay::app {
namespace {

using test_support::CodeSpans;
using test_support::ReadReadme;
using test_support::TableUnder;

// Command -> its long options, from the first column ("`outbox-relay init --config F
// [--print-sql]`"); --help is every command's and left out on both sides.
std::map<std::string, std::set<std::string>> DocumentedCommands() {
  std::map<std::string, std::set<std::string>> commands;
  for (const auto& row : TableUnder(ReadReadme(), "## Commands")) {
    if (row.empty()) continue;
    for (const std::string& span : CodeSpans(row.front())) {
      std::istringstream words(span);
      std::string program, command, word;
      words >> program >> command;
      if (program != "outbox-relay") continue;
      auto& options = commands[command];
      while (words >> word) {
        const auto start = word.find("--");
        if (start == std::string::npos) continue;
        const auto end = word.find_first_of("] ", start);
        options.insert(word.substr(start, end == std::string::npos ? end : end - start));
      }
    }
  }
  return commands;
}

// Each command of the parser has a row naming each of its options, and each row names a real
// command with real options.
TEST(ReadmeCommandsTableTest, ListsExactlyTheCommandsAndOptions) {
  std::map<std::string, std::set<std::string>> parsed;
  for (const CommandSummary& command : Commands()) {
    auto& options = parsed[command.name];
    for (const std::string& option : command.options) {
      if (option != "--help") options.insert(option);
    }
  }
  ASSERT_GE(parsed.size(), 6u);
  EXPECT_EQ(DocumentedCommands(), parsed);
}

}  // namespace
}  // namespace outbox_relay::app
