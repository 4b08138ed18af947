#pragma once

// The relay's command line: its commands and their options, parsed with CLI11 (kept out of
// this header). main.cpp acts on the result; the docs test compares the commands with the
// README's table.

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace outbox_relay::app {

/// What the command line asks for.
struct CommandLine {
  std::string command;  // run, inbox, check, init, status, replay or version
  std::string config_path;
  bool print_sql = false;      // init
  bool recreate_slot = false;  // init
  bool json = false;           // status
  bool inbox = false;          // check, init, status
  std::string from;            // replay
  std::string to;              // replay
  std::string aggregate_type;  // replay
};

/// Parses `args` (args[0] is the program) into `line`. Returns nullopt to go on, or the exit
/// code to end with after printing help (0) or an error (2) on `out` / `err`. A word in the
/// command's place that names no command is an error naming it and the nearest command.
std::optional<int> ParseCommandLine(const std::vector<std::string>& args, CommandLine& line, std::ostream& out,
                                    std::ostream& err);

/// One command and its long options ("--config", ...), in the order `--help` lists them.
struct CommandSummary {
  std::string name;
  std::vector<std::string> options;
};

/// Every command the parser knows.
std::vector<CommandSummary> Commands();

}  // namespace outbox_relay::app
