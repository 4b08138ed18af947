#include "relay/app/command_line.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace outbox_relay::app {
namespace {

using ::testing::HasSubstr;

struct Parsed {
  std::optional<int> exit_code;
  CommandLine line;
  std::string out;
  std::string err;
};

Parsed Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "outbox-relay");
  Parsed parsed;
  std::ostringstream out, err;
  parsed.exit_code = ParseCommandLine(args, parsed.line, out, err);
  parsed.out = out.str();
  parsed.err = err.str();
  return parsed;
}

// A command and its options land in CommandLine.
TEST(CommandLineTest, ParsesCommandAndOptions) {
  const Parsed init = Parse({"init", "--config", "relay.yaml", "--print-sql"});
  EXPECT_EQ(init.exit_code, std::nullopt) << init.err;
  EXPECT_EQ(init.line.command, "init");
  EXPECT_EQ(init.line.config_path, "relay.yaml");
  EXPECT_TRUE(init.line.print_sql);
  EXPECT_FALSE(init.line.recreate_slot);

  const Parsed replay = Parse({"replay", "-c", "r.yaml", "--from", "0/16B3748", "--aggregate-type", "Order"});
  EXPECT_EQ(replay.exit_code, std::nullopt) << replay.err;
  EXPECT_EQ(replay.line.command, "replay");
  EXPECT_EQ(replay.line.from, "0/16B3748");
  EXPECT_EQ(replay.line.aggregate_type, "Order");
}

// A mistyped command is named, with the nearest command, and exits 2.
TEST(CommandLineTest, MistypedCommandSuggestsTheNearest) {
  const Parsed parsed = Parse({"chekc", "--config", "x"});
  EXPECT_EQ(parsed.exit_code, 2);
  EXPECT_THAT(parsed.err, HasSubstr("unknown command \"chekc\" (did you mean check?)"));
  EXPECT_THAT(parsed.err, HasSubstr("run, inbox, check, init, status, replay, version"));
}

// A word far from every command gets the list, and no guess.
TEST(CommandLineTest, UnknownCommandListsTheCommands) {
  const Parsed parsed = Parse({"deploy"});
  EXPECT_EQ(parsed.exit_code, 2);
  EXPECT_THAT(parsed.err, HasSubstr("unknown command \"deploy\"; the commands are run, inbox, check"));
}

// --help prints the commands and exits 0; an unknown option of a known command exits 2.
TEST(CommandLineTest, HelpAndBadOptions) {
  const Parsed help = Parse({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("check"));
  const Parsed bad = Parse({"status", "--jsn"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--jsn"));
  EXPECT_EQ(Parse({}).exit_code, 2);
}

}  // namespace
}  // namespace outbox_relay::app
