#include "sinks/stdout_sink.hpp"

#include <unistd.h>  // dup

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "outbox/event_encoder.hpp"
#include "outbox/outbox_event.hpp"

namespace outbox_relay::sinks {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

outbox::OutboxEvent Event() {
  outbox::OutboxEvent event;
  event.id = "7";
  event.aggregate_type = "Order";
  event.aggregate_id = "order-1";
  event.type = "OrderCreated";
  event.payload = R"({"total": 12, "items": ["a"]})";
  event.headers = {{"trace", "abc"}, {"n", "5"}};
  event.topic = "outbox.event.Order";
  event.key = "customer-3";
  event.source = "table:public.outbox";
  event.cloudevents_source = "/public/outbox";
  event.commit_lsn = "16/B374D848";
  event.time = "2024-05-01T12:34:56Z";
  return event;
}

// Everything written to `file` so far.
std::string Contents(std::FILE* file) {
  std::fflush(file);
  std::fseek(file, 0, SEEK_SET);
  std::string text;
  char buffer[4096];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, count);
  return text;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos;
       start = end + 1, end = text.find('\n', start)) {
    lines.push_back(text.substr(start, end - start));
  }
  EXPECT_EQ(start, text.size()) << "output does not end with a newline";
  return lines;
}

// A sink writing to a temporary file, recording every report it hands back.
class StdoutSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(file_, nullptr);
    sink_.SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); },
                       [this](const std::string& reason) { failures_.push_back(reason); }});
  }

  // The one JSON line written for a single published event, members in the order written.
  nlohmann::ordered_json PublishOne(const outbox::OutboxEvent& event) {
    sink_.Publish(event, 1);
    const std::vector<std::string> lines = Lines(Contents(file_.get()));
    if (lines.size() != 1) {
      ADD_FAILURE() << "expected one line, got " << lines.size();
      return nullptr;
    }
    return nlohmann::ordered_json::parse(lines.front());
  }

  boost::asio::io_context io_;
  File file_{std::tmpfile()};
  StdoutSink sink_{io_, file_.get()};
  std::vector<DeliveryReport> reports_;
  std::vector<std::string> failures_;
};

// The line carries topic, key (event.key, not the aggregate id), the record's headers in their
// order and the value, in that order.
TEST_F(StdoutSinkTest, WritesTopicKeyAndHeaders) {
  const nlohmann::ordered_json line = PublishOne(Event());
  EXPECT_EQ(line.at("topic"), "outbox.event.Order");
  EXPECT_EQ(line.at("key"), "customer-3");
  EXPECT_EQ(line.at("headers"), nlohmann::ordered_json({{"id", "7"},
                                                        {"type", "OrderCreated"},
                                                        {"aggregate_type", "Order"},
                                                        {"commit_lsn", "16/B374D848"},
                                                        {"source", "table:public.outbox"},
                                                        {"trace", "abc"},
                                                        {"n", "5"}}));
  std::vector<std::string> members;
  for (const auto& [name, value] : line.items()) members.push_back(name);
  EXPECT_THAT(members, ElementsAre("topic", "key", "headers", "value"));
}

// A JSON payload is embedded as JSON, not as a quoted string.
TEST_F(StdoutSinkTest, EmbedsJsonPayloadAsJson) {
  const nlohmann::ordered_json line = PublishOne(Event());
  EXPECT_EQ(line.at("value"), nlohmann::ordered_json::parse(R"({"total": 12, "items": ["a"]})"));
}

// A payload that is not JSON is shown as a string.
TEST_F(StdoutSinkTest, WritesNonJsonPayloadAsString) {
  outbox::OutboxEvent event = Event();
  event.payload = "not {json";
  const nlohmann::ordered_json line = PublishOne(event);
  EXPECT_EQ(line.at("value"), "not {json");
}

// A NULL payload is JSON null.
TEST_F(StdoutSinkTest, WritesNullPayloadAsNull) {
  outbox::OutboxEvent event = Event();
  event.payload = std::nullopt;
  const nlohmann::ordered_json line = PublishOne(event);
  ASSERT_TRUE(line.contains("value"));
  EXPECT_TRUE(line.at("value").is_null());
}

// Another format shows that format's record: an envelope value, with the envelope's fields
// in their order, and the size reported is the record's: key plus the envelope.
TEST_F(StdoutSinkTest, WritesEnvelopeFormatRecord) {
  outbox::OutboxEvent event = Event();
  event.format = config::EventFormat::kEnvelope;
  const nlohmann::ordered_json line = PublishOne(event);
  EXPECT_EQ(line.at("value"), nlohmann::ordered_json::parse(
                                  R"({"id": "7", "aggregate_type": "Order", "aggregate_id": "order-1",)"
                                  R"( "type": "OrderCreated", "payload": {"total": 12, "items": ["a"]}})"));
  EXPECT_EQ(line.at("headers").size(), 7u);
  io_.run();
  ASSERT_THAT(reports_, SizeIs(1));
  outbox::EncodedEvent encoded;
  outbox::EncodeEvent(event, encoded);
  EXPECT_EQ(reports_[0].bytes, event.key.size() + encoded.value->size());
}

// A structured CloudEvent shows the CloudEvent as the value and its content-type among the
// headers, right where EncodeEvent puts it.
TEST_F(StdoutSinkTest, WritesCloudEventsStructuredRecord) {
  outbox::OutboxEvent event = Event();
  event.format = config::EventFormat::kCloudEventsStructured;
  const nlohmann::ordered_json line = PublishOne(event);
  nlohmann::ordered_json headers = nlohmann::ordered_json::object();
  outbox::EncodedEvent encoded;
  outbox::EncodeEvent(event, encoded);
  for (const auto& [name, value] : encoded.headers) headers[std::string(name)] = value;
  EXPECT_EQ(line.at("headers"), headers);
  EXPECT_EQ(line.at("headers").at("content-type"), "application/cloudevents+json; charset=UTF-8");
  EXPECT_EQ(line.at("value").at("specversion"), "1.0");
  EXPECT_EQ(line.at("value").at("subject"), "order-1");
  EXPECT_EQ(line.at("value").at("data"), nlohmann::ordered_json::parse(R"({"total": 12, "items": ["a"]})"));
}

// Each event is one line, in publishing order.
TEST_F(StdoutSinkTest, WritesOneLinePerEventInOrder) {
  for (const char* id : {"1", "2", "3"}) {
    outbox::OutboxEvent event = Event();
    event.id = id;
    event.payload = "{\n  \"multi\": \"line\"\n}";  // must not break the one-line format
    sink_.Publish(event, 0);
  }
  const std::vector<std::string> lines = Lines(Contents(file_.get()));
  ASSERT_THAT(lines, SizeIs(3));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[i]).at("headers").at("id"), std::to_string(i + 1));
  }
}

// Reports are never handed back from inside Publish, only once the io_context runs.
TEST_F(StdoutSinkTest, ReportsArriveOnlyFromTheIoContext) {
  sink_.Publish(Event(), 11);
  sink_.Publish(Event(), 12);
  EXPECT_THAT(reports_, IsEmpty());
  io_.run();
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[0].tag, 11u);
  EXPECT_EQ(reports_[1].tag, 12u);
  EXPECT_THAT(failures_, IsEmpty());
}

// A report carries the event's size (key plus value) and no error once the line is written.
TEST_F(StdoutSinkTest, ReportCarriesKeyPlusValueSize) {
  outbox::OutboxEvent event = Event();
  sink_.Publish(event, 5);
  event.payload = std::nullopt;
  sink_.Publish(event, 6);
  io_.run();
  ASSERT_THAT(reports_, SizeIs(2));
  EXPECT_EQ(reports_[0].bytes, std::string("customer-3").size() +
                                   std::string(R"({"total": 12, "items": ["a"]})").size());
  EXPECT_TRUE(reports_[0].delivered());
  EXPECT_EQ(reports_[1].bytes, std::string("customer-3").size());
}

// A line that cannot be written is reported as not delivered, still through the io_context.
TEST(StdoutSinkWriteErrorTest, FailedWriteIsReportedAsError) {
  File writable(std::tmpfile());
  ASSERT_NE(writable, nullptr);
  File read_only(fdopen(dup(fileno(writable.get())), "r"));
  ASSERT_NE(read_only, nullptr);
  boost::asio::io_context io;
  StdoutSink sink(io, read_only.get());
  std::vector<DeliveryReport> reports;
  sink.SetHandlers({[&reports](const DeliveryReport& report) { reports.push_back(report); },
                    [](const std::string&) {}});
  sink.Publish(Event(), 3);
  EXPECT_THAT(reports, IsEmpty());
  io.run();
  ASSERT_THAT(reports, SizeIs(1));
  EXPECT_EQ(reports[0].tag, 3u);
  ASSERT_TRUE(std::holds_alternative<Refused>(reports[0].outcome)) << reports[0].outcome.index();
  EXPECT_THAT(std::get<Refused>(reports[0].outcome).error, HasSubstr("writing to stdout failed"));
}

// A dead letter is one line on its topic: no key when the row had none, the payload as the
// value, the error headers; its report says it is a dead letter, with the reason.
TEST_F(StdoutSinkTest, WritesDeadLetter) {
  outbox::PoisonRow poison;
  poison.reason = outbox::PoisonReason::kMissingKey;
  poison.detail = "aggregate id is NULL or empty";
  poison.source = "table:public.outbox";
  poison.id = "7";
  poison.commit_lsn = "16/B374D848";
  poison.value = "not {json";
  EXPECT_EQ(sink_.PublishDeadLetter("dlq", poison, 4), poison.value->size());
  const std::vector<std::string> lines = Lines(Contents(file_.get()));
  ASSERT_THAT(lines, SizeIs(1));
  const auto line = nlohmann::ordered_json::parse(lines.front());
  EXPECT_EQ(line.at("topic"), "dlq");
  EXPECT_EQ(line.at("key"), nullptr);
  EXPECT_EQ(line.at("value"), "not {json");
  EXPECT_EQ(line.at("headers").at("__outbox_relay.errors.reason"), "missing_key");
  EXPECT_EQ(line.at("headers").at("__outbox_relay.errors.commit_lsn"), "16/B374D848");
  io_.run();
  ASSERT_THAT(reports_, SizeIs(1));
  EXPECT_EQ(reports_[0].tag, 4u);
  EXPECT_EQ(reports_[0].dead_letter, outbox::PoisonReason::kMissingKey);
}

}  // namespace
}  // namespace outbox_relay::sinks
