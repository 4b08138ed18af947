// `outbox-relay check` (CheckCommand): the config, then the source database, then Kafka or
// RabbitMQ; the parts are in check_source.cpp, check_outbox.cpp, check_kafka.cpp and
// check_rabbitmq.cpp.

#include <ostream>
#include <string>
#include <utility>

#include "base/exit_code.hpp"
#include "relay/ops/check.hpp"
#include "relay/ops/cli.hpp"
#include "relay/ops/command_config.hpp"
#include "relay/ops/outbox_migrations.hpp"
#include "relay/ops/sql_text.hpp"

namespace outbox_relay::ops {
namespace detail {
namespace {

// A check that failed on a query: that check's FAIL line; the other checks still run.
template <typename T>
void Guarded(CheckReport& report, const std::string& what, const base::Result<T>& outcome) {
  if (outcome) return;
  report.Fail(what, "query failed: " + outcome.error().message,
              "the check's queries need PostgreSQL 14 or later and a role that may read the system catalogs");
}

void CheckDatabase(const config::Config& config, CheckReport& report) {
  auto connected = Database::Connect(config.source, "outbox-relay check");
  if (!connected) {
    report.Fail("connect to " + DescribeDsn(config.source.dsn), connected.error().message,
                "check source.dsn, that PostgreSQL runs there and that pg_hba.conf lets this user in");
    return;
  }
  Database& db = connected.value();
  report.Ok("connect to " + db.Describe());
  Guarded(report, "PostgreSQL version", CheckServer(db, config, report));
  Guarded(report, "wal_level", CheckWalLevel(db, report));
  const auto standby = CheckStandby(db, config, report);
  Guarded(report, "standby", standby);
  Guarded(report, "replication slots", CheckRoom(db, config, report));
  const auto role = CheckRole(db, report);
  Guarded(report, "role", role);
  if (role) CheckReplicationConnection(config, role.value(), report);
  Guarded(report, "publication " + config.source.publication, CheckPublication(db, config, report));
  // outbox.capture: messages reads no table, so no table needs to exist or be readable.
  for (const auto& table : PublishedTables(config.outbox)) {
    const auto table_exists = CheckTable(db, table, config.outbox.columns, report);
    Guarded(report, "outbox table " + QualifiedTable(table), table_exists);
    if (table_exists && table_exists.value()) {
      Guarded(report, "SELECT on " + QualifiedTable(table), CheckSelect(db, table, report));
    }
  }
  if (config.outbox.CapturesMessages()) {
    Guarded(report, "function outbox.publish_message", CheckPublishMessage(db, report));
  }
  Guarded(report, "protections", CheckProtections(db, config, report));
  Guarded(report, "slot " + config.source.slot, CheckSlot(db, config, report));
  // A slot on a standby does not fail over; it is the standby's own.
  if (!standby || !standby.value()) Guarded(report, "failover", CheckFailover(db, config, report));
}

}  // namespace
}  // namespace detail

int CheckCommand(const std::string& config_path, std::ostream& out, std::ostream& err) {
  const auto loaded = detail::LoadCommandConfig(config_path, err);
  if (!loaded) return base::kExitConfig;
  const config::Config& config = *loaded;
  sinks::KafkaConfHandle kafka_conf;
  try {
    if (config.sink.type == config::SinkType::kKafka) kafka_conf = detail::KafkaConf(config);
  } catch (const config::ConfigError& error) {
    detail::WriteConfigError(error, err);
    return base::kExitConfig;
  }
  detail::CheckReport report(out);
  report.Ok("config " + (config_path.empty() ? std::string("(environment only)") : config_path));
  if (config.sink.type == config::SinkType::kStdout) {
    report.Ok("sink stdout (sink.type): events are printed, and confirmed to the slot once written");
  } else if (config.sink.type == config::SinkType::kRabbitMq) {
    report.Ok(
        "sink rabbitmq (sink.type): at-least-once; consumers deduplicate by message_id, the event id (RabbitMQ "
        "has no transaction spanning the relay's checkpoint)");
  } else {
    report.Ok(
        std::string("sink kafka (") +
        (config.sink.chosen_by_kafka_section ? "sink.type unset: the kafka settings select it" : "sink.type") +
        ")");
  }
  detail::CheckDatabase(config, report);
  if (kafka_conf) detail::CheckKafka(config, std::move(kafka_conf), report);
  if (config.sink.type == config::SinkType::kRabbitMq) detail::CheckRabbitMq(config, report);
  return report.Failed() ? base::kExitFatal : base::kExitOk;
}

}  // namespace outbox_relay::ops
