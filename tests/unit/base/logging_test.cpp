// The shared component loggers: log.level filtering and the text and json line formats, read
// back through an in-memory sink.

#include "base/logging.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <stdexcept>

namespace outbox_relay::base {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;
using namespace std::string_literals;

// Captures everything the component loggers write; restores stderr and the defaults after,
// because the loggers are process-wide.
class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override { SetLogSinkForTest(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)); }

  void TearDown() override {
    ConfigureLogging("info", "text");
    SetLogSinkForTest(nullptr);
  }

  // The captured output split into lines (without their '\n').
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  // The only captured line, parsed as JSON.
  nlohmann::json OnlyJsonLine() const {
    const std::vector<std::string> lines = Lines();
    EXPECT_THAT(lines, SizeIs(1)) << out_.str();
    if (lines.empty()) return nlohmann::json::object();
    return nlohmann::json::parse(lines.front());
  }

  // Logs `message` as-is (not as a format string) in json format and returns the message field.
  std::string JsonRoundTrip(const std::string& message) {
    ConfigureLogging("info", "json");
    Logger("logging_test").info("{}", message);
    return OnlyJsonLine().at("message").get<std::string>();
  }

  std::ostringstream out_;
};

void ConfigureJson(const std::string& level = "info") { ConfigureLogging(level, "json"); }

// A json line is an object with exactly time, level, logger and message.
TEST_F(LoggingTest, JsonLineHasTheFourFields) {
  ConfigureJson();
  Logger("logging_test").info("hello {}", 42);
  const nlohmann::json line = OnlyJsonLine();
  ASSERT_TRUE(line.is_object());
  EXPECT_THAT(line, SizeIs(4));
  EXPECT_EQ(line.at("level"), "info");
  EXPECT_EQ(line.at("logger"), "logging_test");
  EXPECT_EQ(line.at("message"), "hello 42");
  EXPECT_TRUE(std::regex_match(line.at("time").get<std::string>(),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")))
      << line.at("time");
}

// The json time is the current time in UTC, to the second.
TEST_F(LoggingTest, JsonTimeIsCurrentUtc) {
  ConfigureJson();
  const auto before = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  Logger("logging_test").info("tick");
  const auto after = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parsed{};
  std::istringstream time(OnlyJsonLine().at("time").get<std::string>());
  time >> std::get_time(&parsed, "%Y-%m-%dT%H:%M:%S");
  ASSERT_FALSE(time.fail());
  const std::time_t logged = ::timegm(&parsed);
  EXPECT_GE(logged, before);
  EXPECT_LE(logged, after);
}

// Quotes, a backslash, a newline and a tab come back exactly, on one line.
TEST_F(LoggingTest, JsonEscapesQuotesBackslashNewlineTab) {
  const std::string message = "say \"hi\" to C:\\temp\nnext line\tcolumn";
  EXPECT_EQ(JsonRoundTrip(message), message);
  EXPECT_THAT(Lines(), SizeIs(1));
}

// Every other control character is escaped too, so the line stays valid JSON.
TEST_F(LoggingTest, JsonEscapesControlCharacters) {
  const std::string message = "nul\0 soh\x01 esc\x1b us\x1f cr\r bs\b ff\f del\x7f"s;
  EXPECT_EQ(JsonRoundTrip(message), message);
  EXPECT_THAT(out_.str(), HasSubstr(R"(nul\u0000 soh\u0001 esc\u001b us\u001f cr\r bs\b ff\f)"));
}

// Non-ASCII UTF-8 is written as it is, not as \u escapes.
TEST_F(LoggingTest, JsonPassesUtf8Through) {
  const std::string message = "Grüße, 日本, 🙂";
  EXPECT_EQ(JsonRoundTrip(message), message);
  EXPECT_THAT(out_.str(), HasSubstr(message));
}

// Bytes that are not UTF-8 become U+FFFD instead of making the line unparseable.
TEST_F(LoggingTest, JsonReplacesInvalidUtf8) {
  // A stray byte, an overlong '/', a surrogate and a sequence cut short by the end.
  const std::string message = "a\xff b\xc0\xaf c\xed\xa0\x80 d\xe2\x82";
  EXPECT_EQ(JsonRoundTrip(message), "a\uFFFD b\uFFFD\uFFFD c\uFFFD\uFFFD\uFFFD d\uFFFD\uFFFD");
}

// The logger name is escaped like the message.
TEST_F(LoggingTest, JsonEscapesLoggerName) {
  ConfigureJson();
  Logger("logging_test \"quoted\"").info("x");
  EXPECT_EQ(OnlyJsonLine().at("logger"), "logging_test \"quoted\"");
}

// Messages below the configured level are dropped; warn and above are written.
TEST_F(LoggingTest, JsonLevelFiltering) {
  ConfigureJson("warn");
  auto& logger = Logger("logging_test");
  logger.debug("debug");
  logger.info("info");
  logger.warn("warn");
  logger.error("error");
  std::vector<std::string> levels;
  for (const std::string& line : Lines()) levels.push_back(nlohmann::json::parse(line).at("level"));
  EXPECT_THAT(levels, ElementsAre("warning", "error"));
}

// The level reaches loggers created both before and after ConfigureLogging.
TEST_F(LoggingTest, LevelAppliesToExistingAndNewLoggers) {
  auto& before = Logger("logging_test_level_before");
  ConfigureLogging("error", "text");
  auto& after = Logger("logging_test_level_after");
  before.warn("dropped");
  after.warn("dropped");
  before.error("kept before");
  after.error("kept after");
  const std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(2)) << out_.str();
  EXPECT_THAT(lines[0], HasSubstr("kept before"));
  EXPECT_THAT(lines[1], HasSubstr("kept after"));
}

// A logger created after ConfigureLogging writes json too, and does not switch the others back.
TEST_F(LoggingTest, JsonAppliesToLoggersCreatedLater) {
  auto& existing = Logger("logging_test_format_before");
  ConfigureJson();
  Logger("logging_test_format_after").info("from the new logger");
  existing.info("from the old logger");
  const std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(2)) << out_.str();
  EXPECT_EQ(nlohmann::json::parse(lines[0]).at("logger"), "logging_test_format_after");
  EXPECT_EQ(nlohmann::json::parse(lines[1]).at("logger"), "logging_test_format_before");
}

// Text lines keep their shape: UTC time, level, [logger], message.
TEST_F(LoggingTest, TextFormatShape) {
  ConfigureLogging("info", "text");
  Logger("logging_test").info("hello {}", 42);
  const std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z info \[logging_test\] hello 42)")))
      << lines[0];
}

// Switching from json back to text takes effect on the shared sink.
TEST_F(LoggingTest, TextAfterJson) {
  ConfigureJson();
  ConfigureLogging("info", "text");
  Logger("logging_test").info("plain");
  ASSERT_THAT(Lines(), SizeIs(1));
  EXPECT_THAT(Lines()[0], ::testing::EndsWith(" info [logging_test] plain"));
}

// Text filtering drops messages below the level.
TEST_F(LoggingTest, TextLevelFiltering) {
  ConfigureLogging("debug", "text");
  auto& logger = Logger("logging_test");
  logger.trace("trace");
  logger.debug("debug");
  const std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(1));
  EXPECT_THAT(lines[0], HasSubstr(" debug [logging_test] debug"));
}

// An unknown format or level is refused naming the key, instead of logging nothing.
TEST_F(LoggingTest, RejectsUnknownFormatAndLevel) {
  try {
    ConfigureLogging("info", "xml");
    ADD_FAILURE() << "expected an error for format xml";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), StartsWith("log.format: "));
  }
  try {
    ConfigureLogging("loud", "text");
    ADD_FAILURE() << "expected an error for level loud";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), StartsWith("log.level: "));
  }
}

}  // namespace
}  // namespace outbox_relay::base
