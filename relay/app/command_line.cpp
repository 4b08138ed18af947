#include "relay/app/command_line.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <memory>
#include <ostream>

#include "base/exit_code.hpp"
#include "config/config.hpp"

namespace outbox_relay::app {
namespace {

constexpr const char* kConfigHelp = "YAML config file (OUTBOX_RELAY_* variables override it)";
constexpr const char* kInboxHelp = "the inbox's schema, handlers and positions instead of the relay's";

// The parser writes what it reads into `line`, which must outlive it.
std::unique_ptr<CLI::App> MakeParser(CommandLine& line) {
  auto app = std::make_unique<CLI::App>(
      "outbox-relay: publishes PostgreSQL outbox rows to Kafka via logical replication", "outbox-relay");
  app->require_subcommand(1);
  auto* run = app->add_subcommand("run", "stream outbox events until SIGTERM");
  run->add_option("-c,--config", line.config_path, kConfigHelp);
  auto* inbox = app->add_subcommand(
      "inbox", "consume events and apply each exactly once to the database (inbox.handlers) until SIGTERM");
  inbox->add_option("-c,--config", line.config_path, kConfigHelp);
  auto* check = app->add_subcommand(
      "check", "check config, database, Kafka and topics (exit 0 ok, 1 a check failed, 2 config)");
  check->add_option("-c,--config", line.config_path, kConfigHelp);
  check->add_flag("--inbox", line.inbox, kInboxHelp);
  auto* init = app->add_subcommand("init", "create the outbox schema, publication and slot where missing");
  init->add_option("-c,--config", line.config_path, kConfigHelp);
  init->add_flag("--inbox", line.inbox, kInboxHelp);
  init->add_flag("--print-sql", line.print_sql, "print the SQL for a DBA instead of connecting");
  init->add_flag("--recreate-slot", line.recreate_slot,
                 "create the slot anew although outbox.relay_slots shows it existed (after a failover): events "
                 "committed meanwhile must be replayed");
  auto* status = app->add_subcommand("status", "show the slot's position, lag and retained WAL");
  status->add_option("-c,--config", line.config_path, kConfigHelp);
  status->add_flag("--inbox", line.inbox, kInboxHelp);
  status->add_flag("--json", line.json, "print one JSON object");
  auto* replay = app->add_subcommand(
      "replay", "publish rows still in the outbox tables again, with a replay header; the slot is not touched");
  replay->add_option("-c,--config", line.config_path, kConfigHelp);
  replay
      ->add_option("--from", line.from,
                   "first row: a timestamp (created_at) or an LSN such as 0/16B3748 (created_lsn)")
      ->required();
  replay->add_option("--to", line.to,
                     "end of the range, exclusive, in the same forms (default: up to the newest row)");
  replay->add_option("--aggregate-type", line.aggregate_type, "only rows of this aggregate type");
  app->add_subcommand("version", "print the version");
  return app;
}

std::vector<std::string> CommandNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands({})) names.push_back(command->get_name());
  return names;
}

std::string Joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : ", ") + word;
  return text;
}

}  // namespace

std::optional<int> ParseCommandLine(const std::vector<std::string>& args, CommandLine& line, std::ostream& out,
                                    std::ostream& err) {
  const auto app = MakeParser(line);
  const std::vector<std::string> names = CommandNames(*app);
  // CLI11 would take an unknown word for a stray argument and say only "A subcommand is
  // required": name the word instead, as configuration keys do.
  const auto word = std::find_if(args.begin() + (args.empty() ? 0 : 1), args.end(),
                                 [](const std::string& arg) { return arg.empty() || arg.front() != '-'; });
  if (word != args.end() && std::find(names.begin(), names.end(), *word) == names.end()) {
    err << "outbox-relay: unknown command \"" << *word << "\"" << config::DidYouMean(*word, names)
        << "; the commands are " << Joined(names) << " (outbox-relay --help)\n";
    return base::kExitConfig;
  }
  // CLI11 parses a reversed copy, the last argument first.
  std::vector<std::string> reversed(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
  try {
    app->parse(reversed);
  } catch (const CLI::ParseError& error) {
    const int code = app->exit(error, out, err);
    return code == 0 ? base::kExitOk : base::kExitConfig;
  }
  for (const CLI::App* command : app->get_subcommands()) line.command = command->get_name();
  return std::nullopt;
}

std::vector<CommandSummary> Commands() {
  CommandLine unused;
  const auto app = MakeParser(unused);
  std::vector<CommandSummary> commands;
  for (const CLI::App* command : app->get_subcommands({})) {
    CommandSummary summary{command->get_name(), {}};
    for (const CLI::Option* option : command->get_options()) {
      for (const std::string& name : option->get_lnames()) summary.options.push_back("--" + name);
    }
    commands.push_back(std::move(summary));
  }
  return commands;
}

}  // namespace outbox_relay::app
