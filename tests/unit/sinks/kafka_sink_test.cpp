// What the non-transactional KafkaSink puts on the wire, read back from librdkafka's in-process
// mock cluster.

#include "sinks/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>

#include "base/c_handle.hpp"
#include "config/config.hpp"
#include "outbox/event_encoder.hpp"
#include "outbox/outbox_event.hpp"
#include "outbox/poison.hpp"
#include "sinks/kafka_handles.hpp"
#include "tests/unit/sinks/kafka_mock_cluster.hpp"

namespace outbox_relay::sinks {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;
using namespace std::chrono_literals;

using Headers = std::vector<std::pair<std::string, std::string>>;

// One partition, so records come back in the order they were produced.
constexpr char kTopic[] = "outbox.event.Order";

// A record as a consumer sees it.
struct ConsumedRecord {
  std::string key;
  std::optional<std::string> value;
  Headers headers;
};

// The first `count` records of partition 0 of `topic`, or fewer if they do not come within 10 s.
std::vector<ConsumedRecord> Consume(const std::string& bootstraps, const std::string& topic, std::size_t count) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  for (const auto& [key, value] :
       {std::pair{"bootstrap.servers", bootstraps.c_str()}, std::pair{"group.id", "kafka-sink-test"}}) {
    if (rd_kafka_conf_set(conf.get(), key, value, error.data(), error.size()) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(error.data());
    }
  }
  KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error.data(), error.size()));
  if (!consumer) throw std::runtime_error(std::string("consumer: ") + error.data());
  static_cast<void>(conf.release());  // owned by the consumer now
  base::CHandle<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy> partitions(
      rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(partitions.get(), topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), partitions.get());

  std::vector<ConsumedRecord> records;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
    base::CHandle<rd_kafka_message_t, rd_kafka_message_destroy> message(
        rd_kafka_consumer_poll(consumer.get(), 100));
    if (!message || message->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    ConsumedRecord& record = records.emplace_back();
    record.key.assign(static_cast<const char*>(message->key), message->key_len);
    if (message->payload != nullptr) {
      record.value.emplace(static_cast<const char*>(message->payload), message->len);
    }
    rd_kafka_headers_t* headers = nullptr;  // owned by the message
    if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
        record.headers.emplace_back(name, std::string(static_cast<const char*>(value), size));
      }
    }
  }
  rd_kafka_consumer_close(consumer.get());
  return records;
}

outbox::OutboxEvent Event(config::EventFormat format, std::string key) {
  outbox::OutboxEvent event;
  event.id = "7";
  event.aggregate_type = "Order";
  event.aggregate_id = "order-1";
  event.type = "OrderCreated";
  event.payload = R"({"total": 12, "items": ["a"]})";
  event.headers = {{"trace", "abc"}};
  event.topic = kTopic;
  event.key = std::move(key);
  event.source = "table:public.outbox";
  event.cloudevents_source = "/public/outbox";
  event.format = format;
  event.commit_lsn = "16/B374D848";
  event.time = "2024-05-01T12:34:56Z";
  return event;
}

class KafkaSinkTest : public ::testing::Test {
 protected:
  // Serves the sink's events (delivery reports) until `done` holds or 10 s pass.
  bool RunUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_for(20ms);
    }
    return done();
  }

  MockCluster cluster_{1, {{kTopic, 1}}};
  boost::asio::io_context io_;
  KafkaSink sink_{io_, {{"bootstrap.servers", cluster_.Bootstraps()}}};
  std::vector<DeliveryReport> reports_;
  std::vector<std::string> failures_;
};

// Each record is keyed by event.key and carries exactly the value and headers EncodeEvent gives
// for its format (a null payload as a record without value); each report gives back the tag and
// the record's size (key plus value in its format), as Publish returned it.
TEST_F(KafkaSinkTest, ProducesTheEncodedRecordForEveryFormat) {
  sink_.SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); },
                     [this](const std::string& reason) { failures_.push_back(reason); }});
  std::vector<outbox::OutboxEvent> events = {
      Event(config::EventFormat::kPayload, "customer-1"),
      Event(config::EventFormat::kEnvelope, "customer-2"),
      Event(config::EventFormat::kCloudEventsBinary, "customer-3"),
      Event(config::EventFormat::kCloudEventsStructured, "customer-4"),
      Event(config::EventFormat::kPayload, "customer-5"),
  };
  events.back().payload = std::nullopt;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < events.size(); ++i) sizes.push_back(sink_.Publish(events[i], 100 + i));

  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= events.size(); })) << reports_.size() << " reports";
  EXPECT_THAT(failures_, IsEmpty());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(reports_[i].tag, 100 + i);
    outbox::EncodedEvent encoded;
    outbox::EncodeEvent(events[i], encoded);
    EXPECT_EQ(sizes[i], events[i].key.size() + (encoded.value ? encoded.value->size() : 0)) << i;
    EXPECT_EQ(reports_[i].bytes, sizes[i]) << i;
    EXPECT_TRUE(reports_[i].delivered()) << i;
  }

  const std::vector<ConsumedRecord> records = Consume(cluster_.Bootstraps(), kTopic, events.size());
  ASSERT_THAT(records, SizeIs(events.size()));
  for (std::size_t i = 0; i < events.size(); ++i) {
    outbox::EncodedEvent expected;
    outbox::EncodeEvent(events[i], expected);
    EXPECT_EQ(records[i].key, events[i].key) << i;
    EXPECT_EQ(records[i].value, expected.value) << i;
    EXPECT_EQ(records[i].headers, decltype(records[i].headers)(expected.headers.begin(), expected.headers.end()))
        << i;
  }
  EXPECT_EQ(records.back().value, std::nullopt);
}

// An event the producer gave up on (every broker down past message.timeout.ms) is reported as
// retriable: it may get into Kafka on a later attempt, so the relay sends it again. The events
// published after it are withdrawn at once, before their own timeout, so that none overtakes it
// when the broker is back.
TEST_F(KafkaSinkTest, TimedOutEventWithdrawsTheEventsAfterIt) {
  KafkaSink sink{io_, {{"bootstrap.servers", cluster_.Bootstraps()}, {"message.timeout.ms", "500"}}};
  sink.SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); },
                    [this](const std::string& reason) { failures_.push_back(reason); }});
  rd_kafka_mock_broker_set_down(cluster_.get(), 1);
  sink.Publish(Event(config::EventFormat::kPayload, "customer-1"), 1);
  // librdkafka looks for timed-out records once a second; the report waits, unserved, while the
  // second event is queued with a timeout of its own still far off.
  std::this_thread::sleep_for(2500ms);
  sink.Publish(Event(config::EventFormat::kPayload, "customer-1"), 2);
  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= 2; }));
  rd_kafka_mock_broker_set_up(cluster_.get(), 1);

  EXPECT_EQ(reports_[0].tag, 1u);
  // Timed out: the producer gave up on it, Kafka did not refuse it.
  EXPECT_TRUE(std::holds_alternative<GaveUp>(reports_[0].outcome)) << reports_[0].outcome.index();
  EXPECT_EQ(reports_[1].tag, 2u);
  EXPECT_TRUE(std::holds_alternative<Withdrawn>(reports_[1].outcome))
      << "the later event was not withdrawn: outcome " << reports_[1].outcome.index();
  EXPECT_THAT(failures_, IsEmpty());
}

// ---- Records too large and dead letters ------------------------------------------------------

constexpr char kDeadLetterTopic[] = "outbox-relay.dead-letter";

// librdkafka's smallest message.max.bytes, so a few kilobytes are over it.
class KafkaSinkSizeLimitTest : public KafkaSinkTest {
 protected:
  void SetUp() override {
    sink_.SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); },
                       [this](const std::string& reason) { failures_.push_back(reason); }});
  }

  static outbox::PoisonRow Poison(std::optional<std::string> value) {
    outbox::PoisonRow poison;
    poison.reason = outbox::PoisonReason::kInvalidJson;
    poison.detail = "payload is not valid JSON";
    poison.source = "table:public.outbox";
    poison.id = "7";
    poison.commit_lsn = "16/B374D848";
    poison.topic = kTopic;
    poison.key = "customer-1";
    poison.value = std::move(value);
    return poison;
  }

  MockCluster limited_cluster_{1, {{kTopic, 1}, {kDeadLetterTopic, 1}}};
  KafkaSink limited_{io_, {{"bootstrap.servers", limited_cluster_.Bootstraps()}, {"message.max.bytes", "1000"}}};
};

// A record over message.max.bytes is refused at once as too large (a poison record); the next
// one is published as usual.
TEST_F(KafkaSinkSizeLimitTest, PublishRefusesOversizeRecord) {
  limited_.SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); }, nullptr});
  outbox::OutboxEvent big = Event(config::EventFormat::kPayload, "customer-1");
  big.payload = "\"" + std::string(3000, 'x') + "\"";
  EXPECT_THROW(limited_.Publish(big, 1), RecordTooLargeError);
  limited_.Publish(Event(config::EventFormat::kPayload, "customer-2"), 2);
  ASSERT_TRUE(RunUntil([&] { return !reports_.empty(); }));
  EXPECT_EQ(reports_[0].tag, 2u);
  EXPECT_TRUE(reports_[0].delivered());
  EXPECT_EQ(reports_[0].dead_letter, std::nullopt);
}

// A dead-letter record keeps its value when it fits and goes without it when it does not; both
// reports say they are dead letters, with their reason and tag.
TEST_F(KafkaSinkSizeLimitTest, DeadLetterDropsOnlyAValueThatDoesNotFit) {
  limited_.SetHandlers({[this](const DeliveryReport& report) { reports_.push_back(report); }, nullptr});
  const outbox::PoisonRow fits = Poison("{oops");
  const outbox::PoisonRow too_big = Poison(std::string(3000, 'x'));
  EXPECT_EQ(limited_.PublishDeadLetter(kDeadLetterTopic, fits, 5), std::string("customer-1{oops").size());
  EXPECT_EQ(limited_.PublishDeadLetter(kDeadLetterTopic, too_big, 6), std::string("customer-1").size());
  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= 2; }));
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(reports_[i].tag, 5 + i);
    ASSERT_TRUE(reports_[i].delivered()) << i;
    EXPECT_EQ(reports_[i].dead_letter, outbox::PoisonReason::kInvalidJson);
    EXPECT_EQ(std::get<Delivered>(reports_[i].outcome).topic, kDeadLetterTopic);
  }
  const auto records = Consume(limited_cluster_.Bootstraps(), kDeadLetterTopic, 2);
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_EQ(records[0].key, "customer-1");
  EXPECT_EQ(records[0].value, std::optional<std::string>("{oops"));
  EXPECT_EQ(records[1].value, std::nullopt);
  outbox::EncodedEvent expected;
  outbox::EncodeDeadLetter(fits, expected);
  EXPECT_EQ(records[0].headers, Headers(expected.headers.begin(), expected.headers.end()));
  EXPECT_EQ(records[1].headers, Headers(expected.headers.begin(), expected.headers.end()));
}

// A broker that refuses a record as too large (a topic's max.message.bytes) reports it with the
// refused record's key, value and headers, ready to be dead-lettered.
TEST_F(KafkaSinkSizeLimitTest, BrokerRefusalCarriesTheRecord) {
  rd_kafka_mock_topic_create(cluster_.get(), kDeadLetterTopic, 1, 1);
  constexpr std::int16_t kProduceApiKey = 0;  // the Kafka protocol's ApiKey of Produce requests
  rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  const outbox::OutboxEvent event = Event(config::EventFormat::kPayload, "customer-1");
  sink_.Publish(event, 9);
  ASSERT_TRUE(RunUntil([&] { return !reports_.empty(); }));
  const DeliveryReport report = reports_[0];
  // Kafka refused it, so it would refuse it again: not a record the producer gave up on.
  ASSERT_TRUE(std::holds_alternative<RefusedAsPoison>(report.outcome)) << report.outcome.index();
  const outbox::PoisonRow refused = std::get<RefusedAsPoison>(report.outcome).row;
  EXPECT_EQ(refused.reason, outbox::PoisonReason::kRecordTooLarge);
  EXPECT_EQ(refused.id, "7");
  EXPECT_EQ(refused.commit_lsn, "16/B374D848");
  EXPECT_EQ(refused.source, "table:public.outbox");
  EXPECT_EQ(refused.topic, kTopic);
  EXPECT_EQ(refused.key, std::optional<std::string>("customer-1"));
  outbox::EncodedEvent expected;
  outbox::EncodeEvent(event, expected);
  EXPECT_EQ(refused.value, std::optional<std::string>(*expected.value));
  EXPECT_EQ(refused.headers, Headers(expected.headers.begin(), expected.headers.end()));
  EXPECT_THAT(refused.detail, ::testing::HasSubstr("max.message.bytes"));

  // Dead-lettered on the same producer, it arrives with the refused record's headers first.
  sink_.PublishDeadLetter(kDeadLetterTopic, refused, 9);
  ASSERT_TRUE(RunUntil([&] { return reports_.size() >= 2; }));
  EXPECT_TRUE(reports_[1].delivered());
  EXPECT_EQ(reports_[1].dead_letter, outbox::PoisonReason::kRecordTooLarge);
  const auto records = Consume(cluster_.Bootstraps(), kDeadLetterTopic, 1);
  ASSERT_THAT(records, SizeIs(1));
  EXPECT_EQ(records[0].value, refused.value);
  EXPECT_EQ(records[0].headers.front(), (std::pair<std::string, std::string>("id", "7")));
  EXPECT_EQ(records[0].headers.at(expected.headers.size()),
            (std::pair<std::string, std::string>("__outbox_relay.errors.reason", "record_too_large")));
}

}  // namespace
}  // namespace outbox_relay::sinks
