// Redaction of registered secrets: in plain text, in both log formats, and in output streams
// written piecewise.

#include "base/redaction.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>
#include <string>

#include "base/logging.hpp"

namespace outbox_relay::base {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The registry and the loggers are process-wide: every test starts and ends without secrets.
class RedactionTest : public ::testing::Test {
 protected:
  void SetUp() override { ClearSecretsForTest(); }
  void TearDown() override {
    ClearSecretsForTest();
    ConfigureLogging("info", "text");
    SetLogSinkForTest(nullptr);
  }
};

// Every occurrence of every secret becomes ***; other text stays.
TEST_F(RedactionTest, ReplacesEveryOccurrence) {
  AddSecrets({"hunter2", "s3cr3t"});
  EXPECT_EQ(Redact("a hunter2 b hunter2 c s3cr3t"), "a *** b *** c ***");
  EXPECT_EQ(Redact("nothing here"), "nothing here");
}

// A secret containing another is hidden whole, not left half visible.
TEST_F(RedactionTest, LongestSecretFirst) {
  AddSecrets({"pass", "password123"});
  EXPECT_EQ(Redact("x password123 y pass"), "x *** y ***");
}

// Empty values (unset keys) never turn into a redaction of everything.
TEST_F(RedactionTest, EmptySecretIgnored) {
  AddSecrets({""});
  EXPECT_EQ(Redact("text"), "text");
}

// Log lines of both formats carry *** instead of the secret.
TEST_F(RedactionTest, LogLinesAreRedactedInBothFormats) {
  AddSecrets({"topsecret\"quoted"});
  for (const char* format : {"text", "json"}) {
    std::ostringstream out;
    SetLogSinkForTest(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    ConfigureLogging("info", format);
    Logger("config").warn("libpq said: password=topsecret\"quoted failed");
    EXPECT_THAT(out.str(), Not(HasSubstr("topsecret"))) << format;
    EXPECT_THAT(out.str(), HasSubstr("password=***")) << format;
  }
}

// A stream redacts a secret even when it arrives in pieces, and restores its buffer after.
TEST_F(RedactionTest, StreamRedactsSecretSplitOverWrites) {
  AddSecrets({"hunter2"});
  std::ostringstream out;
  std::streambuf* original = out.rdbuf();
  {
    const RedactedStream redacted(out);
    out << "FAIL connect: password=hun" << std::flush;
    out << "ter2 refused\n"
        << "unfinished hunter2";
  }
  EXPECT_EQ(out.rdbuf(), original);
  EXPECT_EQ(out.str(), "FAIL connect: password=*** refused\nunfinished ***");
}

}  // namespace
}  // namespace outbox_relay::base
