// ClassifyKafkaError: each code the sink singles out keeps the meaning the sink's `==` lists
// gave it before the classification existed, and every other code is kOther, the safe answer.

#include <librdkafka/rdkafka.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "sinks/kafka_detail.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::sinks::detail {
namespace {

using Category = KafkaErrorCategory;

// Every value an rd_kafka_resp_err_t can hold (its enumerators span -200..97, so the enum's
// range is -256..255), enumerators or not: codes of a newer librdkafka come from this range too.
std::vector<rd_kafka_resp_err_t> AllCodes() {
  std::vector<rd_kafka_resp_err_t> codes;
  for (int value = -256; value <= 255; ++value) codes.push_back(static_cast<rd_kafka_resp_err_t>(value));
  return codes;
}

bool OneOf(rd_kafka_resp_err_t code, std::initializer_list<rd_kafka_resp_err_t> list) {
  for (const auto listed : list) {
    if (code == listed) return true;
  }
  return false;
}

std::string Name(rd_kafka_resp_err_t code) {
  return std::to_string(static_cast<int>(code)) + " " + rd_kafka_err2name(code);
}

// The codes the sink treats specially, each in its category.
TEST(KafkaErrorsTest, CodesTheSinkSinglesOut) {
  const std::vector<std::pair<rd_kafka_resp_err_t, Category>> expected = {
      {RD_KAFKA_RESP_ERR_NO_ERROR, Category::kNoError},
      {RD_KAFKA_RESP_ERR__FENCED, Category::kFenced},
      {RD_KAFKA_RESP_ERR_PRODUCER_FENCED, Category::kFenced},
      {RD_KAFKA_RESP_ERR__FATAL, Category::kFatal},
      {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, Category::kTimedOut},
      {RD_KAFKA_RESP_ERR__TIMED_OUT, Category::kTimedOut},
      {RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, Category::kTimedOut},
      {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, Category::kTooLarge},
      {RD_KAFKA_RESP_ERR__PURGE_QUEUE, Category::kPurged},
      {RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, Category::kPurged},
      {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, Category::kAllBrokersDown},
      {RD_KAFKA_RESP_ERR__AUTHENTICATION, Category::kAuthentication},
      {RD_KAFKA_RESP_ERR__SSL, Category::kTls},
      {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, Category::kNotAuthorized},
      {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, Category::kNotAuthorized},
      {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, Category::kUnknownTopic},
      {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, Category::kUnknownTopic},
      {RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, Category::kUnknownTopic},
      {RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS, Category::kAcksRefused},
      {RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, Category::kAlreadyExists},
      {RD_KAFKA_RESP_ERR__PARTITION_EOF, Category::kPartitionEnd},
      {RD_KAFKA_RESP_ERR__STATE, Category::kInvalidState},
  };
  for (const auto& [code, category] : expected) EXPECT_EQ(ClassifyKafkaError(code), category) << Name(code);
  int singled_out = 0;
  for (const auto code : AllCodes()) singled_out += ClassifyKafkaError(code) != Category::kOther ? 1 : 0;
  EXPECT_EQ(singled_out, static_cast<int>(expected.size())) << "a code was singled out without a test";
}

// Codes near the singled-out ones, the enum's bounds and values no librdkafka 2.0.2 code has
// are kOther: a refusal that stops the relay without confirming anything.
TEST(KafkaErrorsTest, UnusualCodesAreOther) {
  for (const auto code :
       {RD_KAFKA_RESP_ERR_UNKNOWN, RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__BEGIN, RD_KAFKA_RESP_ERR__END, RD_KAFKA_RESP_ERR_END_ALL,
        static_cast<rd_kafka_resp_err_t>(-120), static_cast<rd_kafka_resp_err_t>(200)}) {
    EXPECT_EQ(ClassifyKafkaError(code), Category::kOther) << Name(code);
  }
}

// For every value, each decision the sink makes from a category equals the one its `==` list
// made before (the lists below are those, as they stood in kafka_sink.cpp).
TEST(KafkaErrorsTest, EveryDecisionAsBeforeTheClassification) {
  for (const auto code : AllCodes()) {
    const Category category = ClassifyKafkaError(code);
    // Fenced(): the fencing hint of fatal errors.
    EXPECT_EQ(category == Category::kFenced,
              OneOf(code, {RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED}))
        << Name(code);
    // ProducerGaveUp(): a delivery report's GaveUp.
    EXPECT_EQ(category == Category::kTimedOut || category == Category::kFatal,
              OneOf(code, {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT,
                           RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE, RD_KAFKA_RESP_ERR__FATAL}))
        << Name(code);
    // ThrowNotQueued(): SinkBrokenError.
    EXPECT_EQ(category == Category::kFatal, code == RD_KAFKA_RESP_ERR__FATAL) << Name(code);
    // Outcome(): Delivered, Withdrawn, RefusedAsPoison; Publish's RecordTooLargeError,
    // PublishDeadLetter's second try without the value.
    EXPECT_EQ(category == Category::kNoError, code == RD_KAFKA_RESP_ERR_NO_ERROR) << Name(code);
    EXPECT_EQ(category == Category::kPurged,
              OneOf(code, {RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT}))
        << Name(code);
    EXPECT_EQ(category == Category::kTooLarge, code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) << Name(code);
    // OnError(): the three errors with a log line of their own.
    EXPECT_EQ(category == Category::kAllBrokersDown, code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) << Name(code);
    EXPECT_EQ(category == Category::kAuthentication, code == RD_KAFKA_RESP_ERR__AUTHENTICATION) << Name(code);
    EXPECT_EQ(category == Category::kTls, code == RD_KAFKA_RESP_ERR__SSL) << Name(code);
    // CreateCheckpointTopic(): the CREATE hint, and a topic that exists.
    EXPECT_EQ(category == Category::kNotAuthorized, OneOf(code, {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                                                 RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED}))
        << Name(code);
    EXPECT_EQ(category == Category::kAlreadyExists, code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) << Name(code);
    // ReadCheckpointBlocking(): a partition read to its end.
    EXPECT_EQ(category == Category::kPartitionEnd, code == RD_KAFKA_RESP_ERR__PARTITION_EOF) << Name(code);
    // CommitTransaction(): the checkpoint refused because the transaction already failed.
    EXPECT_EQ(category == Category::kInvalidState, code == RD_KAFKA_RESP_ERR__STATE) << Name(code);
  }
}

// A produce call refused after a fatal error breaks the sink; any other refusal is a plain,
// non-retryable SinkError. Both carry the caller's text and librdkafka's.
TEST(KafkaErrorsTest, NotQueuedIsBrokenOnlyAfterAFatalError) {
  try {
    ThrowNotQueued("cannot queue event 7", RD_KAFKA_RESP_ERR__FATAL);
    FAIL() << "ThrowNotQueued returned";
  } catch (const SinkBrokenError& error) {
    EXPECT_EQ(std::string(error.what()),
              std::string("cannot queue event 7: ") + rd_kafka_err2str(RD_KAFKA_RESP_ERR__FATAL));
  }
  for (const auto code : {RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
                          RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR__STATE}) {
    try {
      ThrowNotQueued("cannot queue event 7", code);
      FAIL() << "ThrowNotQueued returned";
    } catch (const SinkBrokenError&) {
      ADD_FAILURE() << Name(code) << " broke the sink";
    } catch (const SinkError& error) {
      EXPECT_FALSE(error.retryable()) << Name(code);
      EXPECT_EQ(std::string(error.what()), std::string("cannot queue event 7: ") + rd_kafka_err2str(code));
    }
  }
}

// The fencing hint is added to fenced codes only.
TEST(KafkaErrorsTest, FencedCauseOnlyForFencedCodes) {
  EXPECT_NE(FencedCause(RD_KAFKA_RESP_ERR__FENCED).find("exactly_once.transaction_timeout_ms"), std::string::npos);
  EXPECT_EQ(FencedCause(RD_KAFKA_RESP_ERR_PRODUCER_FENCED), FencedCause(RD_KAFKA_RESP_ERR__FENCED));
  EXPECT_EQ(FencedCause(RD_KAFKA_RESP_ERR__FATAL), "");
  EXPECT_EQ(FencedCause(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH), "");
}

}  // namespace
}  // namespace outbox_relay::sinks::detail
