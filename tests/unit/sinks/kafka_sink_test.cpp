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
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/c_handle.hpp"
#include "config/config.hpp"
#include "outbox/event_encoder.hpp"
#include "outbox/outbox_event.hpp"
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
std::vector<ConsumedRecord> Consume(const std::string& bootstraps, const std::string& topic,
                                    std::size_t count) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  std::array<char, 512> error{};
  for (const auto& [key, value] : {std::pair{"bootstrap.servers", bootstraps.c_str()},
                                   std::pair{"group.id", "kafka-sink-test"}}) {
    if (rd_kafka_conf_set(conf.get(), key, value, error.data(), error.size()) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(error.data());
    }
  }
  KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), error.data(), error.size()));
  if (!consumer) throw std::runtime_error(std::string("consumer: ") + error.data());
  conf.release();  // owned by the consumer now
  config::CHandle<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy> partitions(
      rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(partitions.get(), topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), partitions.get());

  std::vector<ConsumedRecord> records;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
    config::CHandle<rd_kafka_message_t, rd_kafka_message_destroy> message(
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
      for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                              RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
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
    EXPECT_EQ(reports_[i].error, std::nullopt) << i;
  }

  const std::vector<ConsumedRecord> records = Consume(cluster_.Bootstraps(), kTopic, events.size());
  ASSERT_THAT(records, SizeIs(events.size()));
  for (std::size_t i = 0; i < events.size(); ++i) {
    outbox::EncodedEvent expected;
    outbox::EncodeEvent(events[i], expected);
    EXPECT_EQ(records[i].key, events[i].key) << i;
    EXPECT_EQ(records[i].value, expected.value) << i;
    EXPECT_EQ(records[i].headers, decltype(records[i].headers)(expected.headers.begin(), expected.headers.end())) << i;
  }
  EXPECT_EQ(records.back().value, std::nullopt);
}

}  // namespace
}  // namespace outbox_relay::sinks
