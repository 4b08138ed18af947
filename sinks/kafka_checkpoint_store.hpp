#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

namespace outbox_relay::sinks {

struct KafkaTransactionSettings;

/// Exactly-once mode's checkpoints: one compacted topic (exactly_once.checkpoint_topic) where
/// the record keyed by a slot's name holds {"slot", "commit_lsn"}, the commit LSN of the last
/// source transaction whose Kafka transaction committed. The record is written inside that
/// Kafka transaction, so read_committed readers see the checkpoint exactly when its events.
/// Not thread-safe; the blocking calls belong on KafkaSink's transaction worker.
class KafkaCheckpointStore {
 public:
  /// `properties` are the user's librdkafka settings (kafka.*), for the reader's connection.
  KafkaCheckpointStore(std::map<std::string, std::string> properties, const KafkaTransactionSettings& settings);

  /// Creates the topic (compacted, one partition) unless the cluster metadata lists it, through
  /// `producer`. Blocks up to the shorter of 30 s and the transaction timeout per request.
  /// Throws SinkError: retryable when Kafka may yet answer, not when the principal lacks the
  /// ACL to create it.
  void CreateTopic(rd_kafka_t* producer) const;

  /// The commit LSN ("X/Y") of the slot's newest committed checkpoint, read from the start of
  /// every partition with a consumer of its own; nullopt if there is none. Blocks up to about
  /// 60 s. Throws SinkError (retryable while the topic cannot be read).
  std::optional<std::string> Read() const;

  /// Queues the checkpoint record naming `commit_lsn` in `producer`'s open transaction, without
  /// blocking; returns rd_kafka_producev's code. Its delivery report is told apart by IsCheckpoint.
  rd_kafka_resp_err_t Write(rd_kafka_t* producer, const std::string& commit_lsn) const;

  /// Whether a delivery report is of a checkpoint record rather than of an event.
  static bool IsCheckpoint(const rd_kafka_message_t& message);

  const std::string& slot() const { return slot_; }

 private:
  std::map<std::string, std::string> properties_;
  std::string topic_;
  std::string slot_;
  std::size_t replication_factor_ = 0;  // 0: the broker's default
  std::chrono::milliseconds transaction_timeout_;
};

}  // namespace outbox_relay::sinks
