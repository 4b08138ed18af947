// TranslateDeliveryReport on hand-built delivery reports of event records: the tag and size
// come back, and each error code gives the outcome it gave before the error classification.
// Reports that read headers back (dead-letter, too large) need a real message: the mock-cluster
// tests in kafka_sink_test.cpp cover them.

#include <librdkafka/rdkafka.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "sinks/kafka_detail.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::sinks::detail {
namespace {

class KafkaDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KafkaConfHandle conf(rd_kafka_conf_new());
    std::array<char, 512> error{};
    // No broker: the producer only has to name the topic of the reports.
    producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
    ASSERT_TRUE(producer_) << error.data();
    static_cast<void>(conf.release());  // owned by the producer now
    topic_.reset(rd_kafka_topic_new(producer_.get(), "orders", nullptr));
    ASSERT_TRUE(topic_);
  }

  // The report of an event record produced with tag 42, a 3-byte key and a 5-byte value.
  rd_kafka_message_t Report(rd_kafka_resp_err_t code) const {
    rd_kafka_message_t message{};
    message.err = code;
    message.rkt = topic_.get();
    message.key_len = 3;
    message.len = 5;
    message._private = reinterpret_cast<void*>(std::uintptr_t{42});
    return message;
  }

  KafkaHandle producer_;
  KafkaTopicHandle topic_;
};

// A delivered record's report names its topic, tag and size.
TEST_F(KafkaDeliveryTest, DeliveredReportCarriesTopicTagAndSize) {
  const DeliveryReport report = TranslateDeliveryReport(Report(RD_KAFKA_RESP_ERR_NO_ERROR));
  ASSERT_TRUE(report.delivered());
  EXPECT_EQ(std::get<Delivered>(report.outcome).topic, "orders");
  EXPECT_EQ(report.tag, 42U);
  EXPECT_EQ(report.bytes, 8U);
  EXPECT_FALSE(report.dead_letter.has_value());
}

// For every code but the too-large one, the outcome Outcome()'s `==` lists gave it before the
// classification, with "<topic>: <librdkafka's text>" as its error.
TEST_F(KafkaDeliveryTest, EveryCodeGivesTheOutcomeItGaveBefore) {
  for (int value = -256; value <= 255; ++value) {
    const auto code = static_cast<rd_kafka_resp_err_t>(value);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) continue;
    const DeliveryReport report = TranslateDeliveryReport(Report(code));
    std::size_t expected = 0;  // DeliveryOutcome's index
    if (code == RD_KAFKA_RESP_ERR__PURGE_QUEUE || code == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
      expected = 4;  // Withdrawn
    } else if (code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT || code == RD_KAFKA_RESP_ERR__TIMED_OUT ||
               code == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE || code == RD_KAFKA_RESP_ERR__FATAL) {
      expected = 3;  // GaveUp
    } else {
      expected = 1;  // Refused
    }
    EXPECT_EQ(report.outcome.index(), expected) << value << " " << rd_kafka_err2name(code);
    EXPECT_EQ(report.error(), std::string("orders: ") + rd_kafka_err2str(code)) << value;
    EXPECT_EQ(report.tag, 42U);
  }
}

}  // namespace
}  // namespace outbox_relay::sinks::detail
