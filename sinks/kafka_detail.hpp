#pragma once

// Private to sinks/: what KafkaSink's files share (namespace detail). Other libraries include
// sinks/kafka_sink.hpp only.
//
// KafkaSink's files, each with one job:
//   kafka_sink.cpp              the event pump: producing records, serving librdkafka's events
//   kafka_config.cpp            librdkafka configuration objects from the relay's settings
//   kafka_errors.cpp            the one classification of librdkafka's error codes
//   kafka_delivery.cpp          a delivery report translated into a DeliveryReport
//   kafka_transactions.cpp      the TransactionalSink calls: init, begin, commit, abort, fencing
//   kafka_checkpoint_store.cpp  the exactly-once checkpoint topic: create, read, write

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <spdlog/logger.h>

#include "sinks/kafka_errors.hpp"
#include "sinks/kafka_handles.hpp"
#include "sinks/sink.hpp"
#include "sinks/sinks_log.hpp"

namespace outbox_relay::sinks {

struct KafkaTransactionSettings;

namespace detail {

/// librdkafka takes its timeouts as int milliseconds.
inline int Millis(std::chrono::milliseconds duration) { return static_cast<int>(duration.count()); }

// ---------------------------------------------------------------------------------------------
// kafka_errors.cpp

/// What a librdkafka error code means to the sink. Each call site decides what a category
/// means where it stands (kFatal: a delivery the producer gave up on, a produce call refused
/// for good); kOther is the safe answer for any code the sink does not single out.

/// rd_kafka_producev refused a record with `code`: throws SinkBrokenError after a fatal
/// producer error, SinkError otherwise, with `what` and librdkafka's text.
[[noreturn]] void ThrowNotQueued(const std::string& what, rd_kafka_resp_err_t code);

// ---------------------------------------------------------------------------------------------
// kafka_config.cpp

/// Sets one property; throws SinkError naming kafka.<key> if librdkafka rejects it.
void SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

/// The producer's configuration: ProducerDefaults(), the transactional settings, the user's
/// properties (which win), and the events the sink serves. Throws SinkError.
KafkaConfHandle MakeProducerConf(const std::map<std::string, std::string>& properties,
                                 const std::optional<KafkaTransactionSettings>& transactions);

/// The checkpoint reader's configuration: the user's connection and security properties, and a
/// read_committed consumer that reports partition ends. Throws SinkError.
KafkaConfHandle MakeCheckpointReaderConf(const std::map<std::string, std::string>& properties);

// ---------------------------------------------------------------------------------------------
// kafka_delivery.cpp

/// Set in the opaque of dead-letter records, so their reports are told apart whatever topic
/// events are routed to. Tags (transaction counts, event indexes) never come near it.
inline constexpr std::uint64_t kDeadLetterTagBit = std::uint64_t{1} << 63;

/// The report of one event or dead-letter record the sink produced with its tag as opaque
/// (dead-letter ones with kDeadLetterTagBit set). Reads the record's headers back only for a
/// dead-letter record or one Kafka refused as too large.
DeliveryReport TranslateDeliveryReport(const rd_kafka_message_t& message);

// ---------------------------------------------------------------------------------------------
// kafka_transactions.cpp

/// What a fatal error text adds when `code` says the producer was fenced: both ways it happens,
/// and the setting behind one of them. Empty for any other code.
std::string FencedCause(rd_kafka_resp_err_t code);

}  // namespace detail
}  // namespace outbox_relay::sinks
