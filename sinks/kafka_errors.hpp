#pragma once

// The one classification of librdkafka's error codes (kafka_errors.cpp), for the sink and for
// `check`'s topic probes (relay/ops).

#include <librdkafka/rdkafka.h>

namespace outbox_relay::sinks {

enum class KafkaErrorCategory {
  kNoError,         // delivered, created, read
  kFenced,          // a newer producer took the transactional id, or the broker aborted
  kFatal,           // the producer raised a fatal error and does nothing more
  kTimedOut,        // the producer stopped waiting; the broker may or may not have the record
  kTooLarge,        // the record is over message.max.bytes (the producer's or the topic's)
  kPurged,          // withdrawn unsent by rd_kafka_purge or an aborted transaction
  kAllBrokersDown,  // no broker connection is up
  kAuthentication,  // SASL authentication failed
  kTls,             // the TLS handshake or certificate check failed
  kNotAuthorized,   // the principal lacks a topic or cluster ACL
  kUnknownTopic,    // the topic or partition does not exist
  kAcksRefused,     // the broker refuses the acks setting (INVALID_REQUIRED_ACKS)
  kAlreadyExists,   // the topic exists
  kPartitionEnd,    // a consumer reached the end of a partition: not an error
  kInvalidState,    // the call does not fit the producer's state (a failed transaction)
  kOther,
};

/// Never throws. A code newer than the librdkafka headers this was built with is kOther.
KafkaErrorCategory ClassifyKafkaError(rd_kafka_resp_err_t code);

}  // namespace outbox_relay::sinks
