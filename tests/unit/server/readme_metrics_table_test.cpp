// README.md's metrics table and the metrics RelayMetrics registers agree: names, types, labels.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "relay/server/metrics.hpp"
#include "tests/unit/support/readme_table.hpp"

namespace outbox_relay::server {
namespace {

using test_support::CodeSpans;
using test_support::ReadReadme;
using test_support::TableUnder;

struct Family {
  std::string type;
  std::string help;
  std::set<std::string> labels;
};

// Family name -> type, help and label names, from a text exposition.
std::map<std::string, Family> Families(const std::string& exposition) {
  std::map<std::string, Family> families;
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string hash, what, name;
    words >> hash >> what >> name;
    if (hash == "#" && what == "TYPE") words >> families[name].type;
    if (hash == "#" && what == "HELP") std::getline(words >> std::ws, families[name].help);
    if (hash == "#" || line.empty()) continue;
    const auto brace = line.find('{');
    if (brace == std::string::npos) continue;
    std::string family = line.substr(0, brace);
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!families.contains(family) && family.ends_with(suffix))
        family.resize(family.size() - std::string(suffix).size());
    }
    const std::string labels = line.substr(brace + 1, line.find('}') - brace - 1);
    for (std::size_t start = 0; start < labels.size();) {
      const auto equals = labels.find('=', start);
      const std::string label = labels.substr(start, equals - start);
      if (label != "le") families[family].labels.insert(label);
      const auto closing_quote = labels.find('"', labels.find('"', equals) + 1);
      start = closing_quote + 2;  // past `",`
    }
  }
  return families;
}

// A fresh RelayMetrics with one topic's counters created (labelled families appear with their
// first child).
std::map<std::string, Family> Registered() {
  RelayMetrics metrics;
  metrics.EventsPublished("t");
  metrics.BytesPublished("t");
  return Families(metrics.Serialize());
}

// Every metric of `registered` has a row in README.md's table under `heading` with its type and
// each of its labels, and every row names a registered metric.
void ExpectTableLists(const std::map<std::string, Family>& registered, const std::string& heading) {
  std::set<std::string> documented;
  for (const auto& row : TableUnder(ReadReadme(), heading)) {
    ASSERT_EQ(row.size(), 4u) << "a metrics row needs metric, type, labels, meaning";
    const auto spans = CodeSpans(row[0]);
    ASSERT_EQ(spans.size(), 1u) << row[0];
    const std::string& name = spans.front();
    documented.insert(name);
    const auto found = registered.find(name);
    if (found == registered.end()) {
      ADD_FAILURE() << "README.md's table under " << heading << " names " << name << ", which is not registered";
      continue;
    }
    EXPECT_EQ(row[1], found->second.type) << name;
    const auto label_spans = CodeSpans(row[2]);
    for (const std::string& label : found->second.labels) {
      EXPECT_THAT(label_spans, ::testing::Contains(label)) << name << ": README.md does not name label " << label;
    }
  }
  for (const auto& [name, family] : registered) {
    EXPECT_TRUE(documented.contains(name))
        << name << " is registered but README.md's table under " << heading << " lacks it";
  }
}

TEST(ReadmeMetricsTableTest, ListsExactlyTheRegisteredMetrics) {
  const std::map<std::string, Family> registered = Registered();
  ASSERT_GT(registered.size(), 15u);
  ExpectTableLists(registered, "## Metrics");
}

TEST(ReadmeMetricsTableTest, ListsExactlyTheInboxMetrics) {
  InboxMetrics metrics;
  metrics.Lag("t", 0);
  const std::map<std::string, Family> registered = Families(metrics.Serialize());
  ASSERT_GT(registered.size(), 8u);
  ExpectTableLists(registered, "### Inbox metrics");
}

// Each kind of delivery error is named by the help text and by README.md's row.
TEST(ReadmeMetricsTableTest, DeliveryErrorKindsAreDocumented) {
  const Family family = Registered().at("outbox_relay_delivery_errors_total");
  std::string row_labels;
  for (const auto& row : TableUnder(ReadReadme(), "## Metrics")) {
    if (row.size() > 2 && row[0] == "`outbox_relay_delivery_errors_total`") row_labels = row[2];
  }
  for (const std::string_view kind : kDeliveryErrorKinds) {
    EXPECT_THAT(family.help, ::testing::HasSubstr(std::string(kind)));
    EXPECT_THAT(CodeSpans(row_labels), ::testing::Contains(std::string(kind)));
  }
}

}  // namespace
}  // namespace outbox_relay::server
