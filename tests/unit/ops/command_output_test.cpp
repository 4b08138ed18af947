#include "relay/ops/command_output.hpp"

#include <sstream>

#include <gtest/gtest.h>

namespace outbox_relay::ops::detail {
namespace {

// A line is its tag and text; a problem carries its hint on an indented line under it.
TEST(CommandOutputTest, WritesLinesAndProblemsWithTheirHints) {
  std::ostringstream out;
  CommandOutput output(out);
  output.Line("ok   ", "wal_level is logical");
  output.Problem("FAIL ", "slot s", "does not exist", "outbox-relay init");
  EXPECT_EQ(out.str(), "ok   wal_level is logical\nFAIL slot s: does not exist\n     hint: outbox-relay init\n");
}

// libpq's multi-line messages become one line, runs of whitespace one space, none at the ends.
TEST(CommandOutputTest, OneLineFoldsWhitespace) {
  EXPECT_EQ(OneLine("connection failed: Connection refused\n\tIs the server running?\n"),
            "connection failed: Connection refused Is the server running?");
  EXPECT_EQ(OneLine("  a \r\n b  "), "a b");
  EXPECT_EQ(OneLine(""), "");
}

// Bytes stay exact below a KiB; above, one decimal in binary units, up to TiB.
TEST(CommandOutputTest, HumanBytesUsesBinaryUnits) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(16LL * 1024 * 1024), "16.0 MiB");
  EXPECT_EQ(HumanBytes(-2048), "-2.0 KiB");
  EXPECT_EQ(HumanBytes(5LL * 1024 * 1024 * 1024 * 1024 * 1024), "5120.0 TiB");
}

}  // namespace
}  // namespace outbox_relay::ops::detail
