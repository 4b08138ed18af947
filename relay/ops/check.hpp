#pragma once

// The parts of `outbox-relay check` (CheckCommand, relay/ops/check.cpp): the report every part
// writes to, the source database's checks (check_source.cpp), the outbox's checks
// (check_outbox.cpp) and the Kafka checks (check_kafka.cpp). Each check writes its own lines;
// one that returns an error failed on a query, which CheckCommand reports as that check's FAIL
// so the other checks still run.

#include <iosfwd>
#include <string>
#include <string_view>

#include "base/error.hpp"
#include "config/config.hpp"
#include "relay/ops/command_output.hpp"
#include "relay/ops/database.hpp"
#include "sinks/kafka_handles.hpp"

namespace outbox_relay::ops::detail {

/// `ok   <what>`, `WARN <what>: <problem>` or `FAIL <what>: <problem>` lines, each problem with
/// its hint under it; remembers whether anything failed.
class CheckReport {
 public:
  explicit CheckReport(std::ostream& out) : output_(out) {}

  void Ok(std::string_view what) { output_.Line("ok   ", what); }
  /// Something the relay runs without, at a cost the line says: not a failure.
  void Warn(std::string_view what, std::string_view problem, std::string_view hint) {
    output_.Problem("WARN ", what, problem, hint);
  }
  void Fail(std::string_view what, std::string_view problem, std::string_view hint) {
    failed_ = true;
    output_.Problem("FAIL ", what, problem, hint);
  }
  bool Failed() const { return failed_; }

 private:
  CommandOutput output_;
  bool failed_ = false;
};

// check_source.cpp: the server, its replication settings, the role, the slot.

/// The server's major: supported, and able to do what outbox.capture asks.
base::Result<void> CheckServer(Database& db, const config::Config& config, CheckReport& report);
/// Whether the slot survives a promotion: PostgreSQL 17+, a failover slot, synchronized_standby_slots
/// and a standby on a physical slot (the standby's own settings cannot be read from here).
base::Result<void> CheckFailover(Database& db, const config::Config& config, CheckReport& report);
base::Result<void> CheckWalLevel(Database& db, CheckReport& report);
/// Whether source.dsn is a hot standby (true), and if so whether a slot there works and stays
/// valid: PostgreSQL 16+, heartbeat.dsn for the heartbeat, hot_standby_feedback and a physical
/// slot on the primary (primary_slot_name), without which the primary may remove rows the slot
/// still needs and the standby invalidates it.
base::Result<bool> CheckStandby(Database& db, const config::Config& config, CheckReport& report);
/// Room for the slot (max_replication_slots) and for its WAL sender (max_wal_senders).
base::Result<void> CheckRoom(Database& db, const config::Config& config, CheckReport& report);
struct SourceRole {
  std::string name;
  bool granted;  // superuser, REPLICATION or rds_replication: replication is granted by attribute
};
/// The role and whether an attribute grants it replication (an ok line when one does).
base::Result<SourceRole> CheckRole(Database& db, CheckReport& report);
/// IDENTIFY_SYSTEM on a replication session of its own; a failure is a FAIL line, never an
/// error. For a role without a replication attribute this decides whether it may replicate
/// (managed services grant it through roles of their own).
void CheckReplicationConnection(const config::Config& config, const SourceRole& role, CheckReport& report);
base::Result<void> CheckSlot(Database& db, const config::Config& config, CheckReport& report);

// check_outbox.cpp: the publication, the outbox tables, the migrations' functions.

base::Result<void> CheckPublication(Database& db, const config::Config& config, CheckReport& report);
/// Whether `table` has the configured columns. Returns whether the table exists (the SELECT
/// check needs it).
base::Result<bool> CheckTable(Database& db, const config::TableName& table, const config::OutboxColumns& columns,
                              CheckReport& report);
base::Result<void> CheckSelect(Database& db, const config::TableName& table, CheckReport& report);
/// Tableless mode: services publish with outbox.publish_message(), which V2 creates.
base::Result<void> CheckPublishMessage(Database& db, CheckReport& report);
/// The protections the migrations give beyond streaming (slot-loss evidence, replay and
/// retention columns, purge()): each missing one is a WARN.
base::Result<void> CheckProtections(Database& db, const config::Config& config, CheckReport& report);

// check_kafka.cpp.

/// Every kafka.* property, as the sink would get it. Throws config::ConfigError for a property
/// librdkafka rejects (exit 2, as it is for `run`).
sinks::KafkaConfHandle KafkaConf(const config::Config& config);
/// The brokers answer metadata with `conf` (from KafkaConf), then the topics
/// (kafka_topic_check.hpp). Blocks up to a few seconds per step.
void CheckKafka(const config::Config& config, sinks::KafkaConfHandle conf, CheckReport& report);
/// The first part of CheckKafka: the brokers answer. Returns the client it asked with (none
/// after a FAIL line); its error callback writes the newest client error to `last_error`,
/// which must outlive it.
sinks::KafkaHandle KafkaBrokers(const config::Config& config, sinks::KafkaConfHandle conf, std::string& last_error,
                                CheckReport& report);

// check_rabbitmq.cpp.

/// The broker answers and takes the login; the fixed exchanges (and the stream) exist. Blocks
/// up to rabbitmq.connect_timeout_ms.
void CheckRabbitMq(const config::Config& config, CheckReport& report);

}  // namespace outbox_relay::ops::detail
