// README.md's configuration table and the key table of config/key_table.cpp list the same keys.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tests/unit/support/readme_table.hpp"

namespace outbox_relay::config {
namespace {

using outbox_relay::test_support::CodeSpans;
using outbox_relay::test_support::ReadReadme;
using outbox_relay::test_support::TableUnder;

// "outbox.columns.{id,type}" -> outbox.columns.id, outbox.columns.type; other text as it is.
std::vector<std::string> ExpandBraces(const std::string& text) {
  const auto open = text.find('{');
  const auto close = text.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return {text};
  std::vector<std::string> expanded;
  const std::string choices = text.substr(open + 1, close - open - 1);
  for (std::size_t start = 0; start <= choices.size();) {
    const auto comma = std::min(choices.find(',', start), choices.size());
    for (const std::string& rest : ExpandBraces(text.substr(close + 1))) {
      expanded.push_back(text.substr(0, open) + choices.substr(start, comma - start) + rest);
    }
    start = comma + 1;
  }
  return expanded;
}

// The keys the table's first column names.
std::set<std::string> DocumentedKeys() {
  std::set<std::string> keys;
  for (const auto& row : TableUnder(ReadReadme(), "## Configuration")) {
    if (row.empty()) continue;
    for (const std::string& span : CodeSpans(row.front())) {
      for (const std::string& key : ExpandBraces(span)) keys.insert(key);
    }
  }
  return keys;
}

// Every key the relay reads has a row in README.md's configuration table, and every key the
// table names is one the relay reads: a key added to one and not the other fails here.
TEST(ReadmeConfigTableTest, ListsExactlyTheConfigurationKeys) {
  const std::vector<std::string> known = ConfigurationKeys();
  const std::set<std::string> code(known.begin(), known.end());
  const std::set<std::string> documented = DocumentedKeys();
  ASSERT_GT(documented.size(), 30u) << "README.md's configuration table was not found";
  for (const std::string& key : code) {
    EXPECT_TRUE(documented.contains(key)) << key << " is a configuration key but README.md's table lacks it";
  }
  for (const std::string& key : documented) {
    EXPECT_TRUE(code.contains(key)) << "README.md's table names " << key << ", which is no configuration key";
  }
}

// The table's default for http.listen is the one the code has.
TEST(ReadmeConfigTableTest, HttpListenDefaultMatches) {
  for (const auto& row : TableUnder(ReadReadme(), "## Configuration")) {
    if (row.size() < 2 || row[0] != "`http.listen`") continue;
    EXPECT_EQ(row[1], "`" + HttpConfig{}.listen + "`");
    return;
  }
  FAIL() << "README.md's configuration table has no http.listen row";
}

}  // namespace
}  // namespace outbox_relay::config
