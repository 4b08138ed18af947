#include "config/topic_template.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace outbox_relay::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

// The message of the std::invalid_argument the constructor throws; fails the test if none.
std::string ErrorOf(std::string_view pattern) {
  try {
    TopicTemplate parsed(pattern);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  ADD_FAILURE() << "no error for topic template \"" << pattern << "\"";
  return {};
}

// ---- Parsing and rendering ---------------------------------------------------------------------

// The default template puts the aggregate type after the static prefix.
TEST(TopicTemplateTest, RendersAggregateTypeIntoDefaultTemplate) {
  const TopicTemplate topic("outbox.event.{aggregate_type}");
  EXPECT_THAT(topic.Render({"Order", "OrderCreated", "", ""}), Optional(std::string("outbox.event.Order")));
  EXPECT_TRUE(topic.HasPlaceholders());
}

// Both placeholders are filled in, wherever they appear, as often as they appear.
TEST(TopicTemplateTest, RendersBothPlaceholdersAnywhere) {
  const TopicTemplate topic("{type}.x.{aggregate_type}-{type}");
  EXPECT_THAT(topic.Render({"Order", "Created", "", ""}), Optional(std::string("Created.x.Order-Created")));
}

// A template without placeholders is a fixed topic, rendered unchanged for every event.
TEST(TopicTemplateTest, FixedTopicRendersUnchanged) {
  const TopicTemplate topic("all-events_v1");
  EXPECT_FALSE(topic.HasPlaceholders());
  EXPECT_THAT(topic.Render({"Order", "Created", "", ""}), Optional(std::string("all-events_v1")));
  EXPECT_THAT(topic.Render({"Payment", "Refunded", "", ""}), Optional(std::string("all-events_v1")));
}

// Placeholder values are inserted verbatim, never parsed as a template themselves.
TEST(TopicTemplateTest, SubstitutesValuesVerbatim) {
  const TopicTemplate topic("x.{aggregate_type}");
  EXPECT_EQ(topic.Substitute({"{type}", "Created", "", ""}), "x.{type}");
  EXPECT_EQ(topic.Render({"{type}", "Created", "", ""}), std::nullopt);
}

// Schema and table name where the event came from, so one template can route several outboxes.
TEST(TopicTemplateTest, RendersSchemaAndTable) {
  const TopicTemplate topic("{schema}.{table}.{type}");
  EXPECT_THAT(topic.Render({"Order", "Created", "billing", "outbox"}),
              Optional(std::string("billing.outbox.Created")));
  EXPECT_TRUE(topic.HasPlaceholders());
}

// ---- Template errors ---------------------------------------------------------------------------

// An unknown placeholder is named, with the allowed ones.
TEST(TopicTemplateTest, RejectsUnknownPlaceholder) {
  const std::string error = ErrorOf("events.{unknown}");
  EXPECT_THAT(error, HasSubstr("unknown placeholder {unknown}"));
  EXPECT_THAT(error, HasSubstr("{aggregate_type}, {type}, {schema}, {table}"));
}

// Empty braces are not a placeholder either.
TEST(TopicTemplateTest, RejectsEmptyPlaceholder) {
  EXPECT_THAT(ErrorOf("events.{}"), HasSubstr("unknown placeholder {}"));
}

// An opening brace that is never closed is reported with its position.
TEST(TopicTemplateTest, RejectsUnclosedBraceWithPosition) {
  EXPECT_THAT(ErrorOf("{aggregate_type"), HasSubstr("unbalanced '{' at position 0"));
  EXPECT_THAT(ErrorOf("events.{type"), HasSubstr("unbalanced '{' at position 7"));
}

// A closing brace without an opening one is reported with its position.
TEST(TopicTemplateTest, RejectsStrayClosingBraceWithPosition) {
  EXPECT_THAT(ErrorOf("}"), HasSubstr("unbalanced '}' at position 0"));
  EXPECT_THAT(ErrorOf("{type}.x}"), HasSubstr("unbalanced '}' at position 8"));
}

// Nested braces are an unbalanced '{', not a placeholder with a brace in its name.
TEST(TopicTemplateTest, RejectsNestedBraces) {
  EXPECT_THAT(ErrorOf("a.{{type}}"), HasSubstr("unbalanced '{' at position 2"));
}

// Static text outside Kafka's topic alphabet is rejected, naming the character and template.
TEST(TopicTemplateTest, RejectsIllegalStaticCharacter) {
  const std::string error = ErrorOf("events/{type}");
  EXPECT_THAT(error, HasSubstr("'/'"));
  EXPECT_THAT(error, HasSubstr("\"events/{type}\""));
  EXPECT_THAT(ErrorOf("events {type}"), HasSubstr("' '"));
}

// An empty template could never render a topic.
TEST(TopicTemplateTest, RejectsEmptyTemplate) { EXPECT_THAT(ErrorOf(""), HasSubstr("empty")); }

// ---- Rendered names Kafka would refuse -----------------------------------------------------------

// A value with a character outside Kafka's alphabet gives no topic.
TEST(TopicTemplateTest, RenderGivesNothingForIllegalCharacters) {
  const TopicTemplate topic("outbox.event.{aggregate_type}");
  EXPECT_EQ(topic.Render({"Order Line", "Created", "", ""}), std::nullopt);
  EXPECT_EQ(topic.Render({"Order/Line", "Created", "", ""}), std::nullopt);
  EXPECT_EQ(topic.Render({"Bestellung\xC3\xBC", "Created", "", ""}), std::nullopt);
}

// "." and ".." are reserved by Kafka; so is the empty name.
TEST(TopicTemplateTest, RenderGivesNothingForReservedOrEmptyNames) {
  const TopicTemplate topic("{type}");
  EXPECT_EQ(topic.Render({"Order", ".", "", ""}), std::nullopt);
  EXPECT_EQ(topic.Render({"Order", "..", "", ""}), std::nullopt);
  EXPECT_EQ(topic.Render({"Order", "", "", ""}), std::nullopt);
  EXPECT_THAT(topic.Render({"Order", "...", "", ""}), Optional(std::string("...")));
}

// 249 characters is the longest legal topic, counting static text and values together.
TEST(TopicTemplateTest, RenderAcceptsUpTo249Characters) {
  const TopicTemplate topic("p.{aggregate_type}");
  const std::string longest(247, 'a');
  EXPECT_THAT(topic.Render({longest, "T", "", ""}), Optional("p." + longest));
  EXPECT_EQ(topic.Render({longest + "a", "T", "", ""}), std::nullopt);
}

// ---- IsLegalTopicName --------------------------------------------------------------------------

// Kafka's length limit: 1 to 249 characters.
TEST(IsLegalTopicNameTest, AcceptsOneTo249Characters) {
  EXPECT_TRUE(IsLegalTopicName("a"));
  EXPECT_TRUE(IsLegalTopicName(std::string(249, 'x')));
  EXPECT_FALSE(IsLegalTopicName(std::string(250, 'x')));
  EXPECT_FALSE(IsLegalTopicName(""));
}

// Kafka's alphabet: letters, digits, '.', '_' and '-' only; "." and ".." are reserved.
TEST(IsLegalTopicNameTest, AcceptsOnlyKafkaAlphabet) {
  EXPECT_TRUE(IsLegalTopicName("Az09._-"));
  EXPECT_FALSE(IsLegalTopicName("a b"));
  EXPECT_FALSE(IsLegalTopicName("a:b"));
  EXPECT_FALSE(IsLegalTopicName("a{b}"));
  EXPECT_FALSE(IsLegalTopicName("."));
  EXPECT_FALSE(IsLegalTopicName(".."));
}

}  // namespace
}  // namespace outbox_relay::config
