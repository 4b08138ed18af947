// README.md's row for kafka.* names every producer property the Kafka sink sets itself.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "sinks/kafka_sink.hpp"
#include "tests/unit/support/readme_table.hpp"

namespace outbox_relay::sinks {
namespace {

// Each of ProducerDefaults() appears as `<property>: <value>` in the configuration table's
// kafka.* row, so a property the sink starts setting cannot go unmentioned.
TEST(ReadmeProducerSettingsTest, KafkaRowNamesEverySetting) {
  std::string row;
  for (const auto& cells : test_support::TableUnder(test_support::ReadReadme(), "## Configuration")) {
    if (!cells.empty() && cells.front() == "`kafka.*`") row = cells.back();
  }
  ASSERT_FALSE(row.empty()) << "README.md's configuration table has no kafka.* row";
  const auto spans = test_support::CodeSpans(row);
  for (const auto& [property, value] : ProducerDefaults()) {
    EXPECT_THAT(spans, ::testing::Contains(property + ": " + value))
        << "README.md's kafka.* row lacks " << property;
  }
  for (const char* transactional : {"transactional.id", "transaction.timeout.ms", "message.timeout.ms"}) {
    EXPECT_THAT(spans, ::testing::Contains(transactional));
  }
}

}  // namespace
}  // namespace outbox_relay::sinks
