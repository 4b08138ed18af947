// `check --inbox` and `status --inbox`: the consuming side's database and topics, for
// `outbox-relay inbox`. The inbox itself (inbox/) runs them never; they read what it stores.

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/exit_code.hpp"
#include "relay/ops/check.hpp"
#include "relay/ops/cli.hpp"
#include "relay/ops/command_config.hpp"
#include "relay/ops/command_output.hpp"
#include "relay/ops/database.hpp"
#include "relay/ops/outbox_migrations.hpp"

namespace outbox_relay::ops {
namespace detail {
namespace {

constexpr int kKafkaTimeoutMs = 5000;

// The loaded config, refused (exit 2) when it has no inbox to speak of.
std::optional<config::Config> LoadInboxConfig(const std::string& config_path, std::ostream& err) {
  auto config = LoadCommandConfig(config_path, err);
  if (config && config->inbox.handlers.empty()) {
    WriteConfigError(config::ConfigError("inbox.handlers",
                                         "is empty: the config has no inbox (a rule is topic, "
                                         "optional type, function)"),
                     err);
    return std::nullopt;
  }
  return config;
}

base::Result<void> CheckInboxDatabase(Database& db, const config::Config& config, CheckReport& report) {
  for (const auto& migration : InboxMigrations()) {
    for (const auto& object : migration.objects) {
      const auto exists = db.QueryBool(object.exists_sql);
      if (!exists) return exists.error();
      if (exists.value()) {
        report.Ok(object.what);
      } else {
        report.Fail(object.what, "does not exist",
                    "outbox-relay init --inbox creates it (or a DBA runs outbox-relay init --inbox --print-sql)");
        return boost::outcome_v2::success();
      }
    }
  }
  const auto tables = db.QueryBool(
      "SELECT has_table_privilege('inbox.processed', 'SELECT, INSERT') AND "
      "has_table_privilege('inbox.positions', 'SELECT, INSERT, UPDATE') AND "
      "has_function_privilege('inbox.apply_batch(text, jsonb)', 'EXECUTE')");
  if (!tables) return tables.error();
  if (tables.value()) {
    report.Ok("privileges on inbox.processed, inbox.positions and inbox.apply_batch()");
  } else {
    report.Fail("privileges on the inbox schema",
                "the role lacks SELECT/INSERT/UPDATE on its tables or EXECUTE on "
                "inbox.apply_batch()",
                "grant what inbox/sql/inbox_role.sql grants (outbox-relay init --inbox --print-sql shows it)");
  }
  for (std::size_t i = 0; i < config.inbox.handlers.size(); ++i) {
    const std::string& function = config.inbox.handlers[i].function;
    const std::string what = "handler " + function + " (inbox.handlers[" + std::to_string(i) + "])";
    const auto rows = db.Query(
        "SELECT to_regproc($1)::oid::text, "
        "CASE WHEN to_regproc($1) IS NOT NULL THEN has_function_privilege(to_regproc($1)::oid, 'EXECUTE') END, "
        "CASE WHEN to_regproc($1) IS NOT NULL THEN (SELECT pronargs FROM pg_proc WHERE oid = to_regproc($1)) END",
        {function});
    if (!rows) return rows.error();
    const Row& row = rows.value().front();
    if (!row[0]) {
      report.Fail(what, "no such function, or the name has several (overloads)",
                  "create it as " + function +
                      "(id, type, key, headers, payload) in the consuming database, with "
                      "one definition only");
    } else if (!Bool(row[1])) {
      report.Fail(what, "the role may not EXECUTE it", "GRANT EXECUTE ON FUNCTION " + function + " TO <role>");
    } else if (Text(row[2]) != "5") {
      report.Fail(what, "takes " + Text(row[2]) + " arguments, not 5",
                  "declare it as (id, type, key, headers, payload): uuid or text, text, text, jsonb, jsonb");
    } else {
      report.Ok(what);
    }
  }
  return boost::outcome_v2::success();
}

// The partitions of `topic`, from the brokers; none when it does not exist or they do not answer.
std::optional<int> PartitionCount(rd_kafka_t* client, const std::string& topic) {
  sinks::KafkaTopicHandle handle(rd_kafka_topic_new(client, topic.c_str(), nullptr));
  const rd_kafka_metadata_t* raw = nullptr;
  if (rd_kafka_metadata(client, 0, handle.get(), &raw, kKafkaTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  sinks::KafkaMetadataHandle metadata(raw);
  if (metadata->topic_cnt != 1 || metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return metadata->topics[0].partition_cnt;
}

struct PartitionStatus {
  std::string topic;
  int partition = 0;
  std::optional<std::int64_t> next_offset;  // none: nothing applied yet
  std::optional<std::int64_t> end_offset;   // none: Kafka did not answer
  std::optional<std::int64_t> start_offset;
};

}  // namespace
}  // namespace detail

int CheckInboxCommand(const std::string& config_path, std::ostream& out, std::ostream& err) {
  const auto config = detail::LoadInboxConfig(config_path, err);
  if (!config) return base::kExitConfig;
  sinks::KafkaConfHandle kafka_conf;
  try {
    kafka_conf = detail::KafkaConf(*config);
  } catch (const config::ConfigError& error) {
    detail::WriteConfigError(error, err);
    return base::kExitConfig;
  }
  detail::CheckReport report(out);
  report.Ok("config " + config_path + ": inbox " + config->inbox.name + ", " +
            (config->inbox.partitions.empty() ? "group " + config->inbox.GroupId() : "a static assignment"));
  auto connected = detail::Database::Connect(config->source, "outbox-relay check");
  if (!connected) {
    report.Fail("connect to " + DescribeDsn(config->source.dsn), connected.error().message,
                "check source.dsn (the consuming database), that PostgreSQL runs there and that pg_hba.conf lets "
                "this user in");
  } else {
    report.Ok("connect to " + connected.value().Describe());
    if (const auto checked = detail::CheckInboxDatabase(connected.value(), *config, report); !checked) {
      report.Fail("inbox schema", "query failed: " + checked.error().message,
                  "the role must be able to read the system catalogs");
    }
  }
  std::string last_kafka_error;
  if (sinks::KafkaHandle client = detail::KafkaBrokers(*config, std::move(kafka_conf), last_kafka_error, report)) {
    for (const std::string& topic : config->inbox.Topics()) {
      if (const auto partitions = detail::PartitionCount(client.get(), topic)) {
        report.Ok("topic " + topic + ": " + std::to_string(*partitions) + " partitions");
      } else {
        report.Warn("topic " + topic, "does not exist (or may not be described)",
                    "the inbox waits for it; the relay creates it with its first event where the brokers "
                    "auto-create topics, else create it with the partitions the producer's keys need");
      }
    }
  }
  return report.Failed() ? base::kExitFatal : base::kExitOk;
}

int StatusInboxCommand(const std::string& config_path, bool json, std::ostream& out, std::ostream& err) {
  const auto config = detail::LoadInboxConfig(config_path, err);
  if (!config) return base::kExitConfig;
  auto connected = detail::ConnectForCommand(config->source, "status", err);
  if (!connected) return base::kExitFatal;
  detail::Database& db = *connected;
  const auto positions = db.Query(
      "SELECT topic, kafka_partition::text, next_offset::text FROM inbox.positions WHERE inbox_name = $1 "
      "ORDER BY 1, 2",
      {config->inbox.name});
  const auto processed =
      db.QueryValue("SELECT count(*)::text FROM inbox.processed WHERE inbox_name = $1", {config->inbox.name});
  if (!positions || !processed) {
    err << "outbox-relay: status: " << db.Describe() << ": "
        << (positions ? processed.error().message : positions.error().message)
        << " (outbox-relay init --inbox creates the inbox schema)\n";
    return base::kExitFatal;
  }
  std::vector<detail::PartitionStatus> partitions;
  for (const auto& row : positions.value()) {
    partitions.push_back({detail::Text(row[0]), std::stoi(detail::Text(row[1])), detail::Integer(row[2]), {}, {}});
  }
  // The end offsets, when Kafka answers: the lag is theirs minus the stored position.
  sinks::KafkaHandle client;
  try {
    sinks::KafkaConfHandle conf = detail::KafkaConf(*config);
    std::array<char, 512> error{};
    client.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), error.data(), error.size()));
    if (client) static_cast<void>(conf.release());
  } catch (const config::ConfigError& error) {
    detail::WriteConfigError(error, err);
    return base::kExitConfig;
  }
  if (client) {
    for (const std::string& topic : config->inbox.Topics()) {
      const int count = detail::PartitionCount(client.get(), topic).value_or(0);
      for (int partition = 0; partition < count; ++partition) {
        const auto known = std::find_if(partitions.begin(), partitions.end(), [&](const auto& status) {
          return status.topic == topic && status.partition == partition;
        });
        detail::PartitionStatus& status =
            known != partitions.end()
                ? *known
                : partitions.emplace_back(detail::PartitionStatus{topic, partition, {}, {}, {}});
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (rd_kafka_query_watermark_offsets(client.get(), topic.c_str(), partition, &low, &high,
                                             detail::kKafkaTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          status.start_offset = low;
          status.end_offset = high;
        }
      }
    }
  }
  std::sort(partitions.begin(), partitions.end(), [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  const auto lag = [](const detail::PartitionStatus& status) -> std::optional<std::int64_t> {
    if (!status.end_offset) return std::nullopt;
    return std::max<std::int64_t>(0, *status.end_offset - status.next_offset.value_or(*status.start_offset));
  };
  const auto or_null = [](const std::optional<std::int64_t>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  if (json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& status : partitions) {
      list.push_back({{"topic", status.topic},
                      {"partition", status.partition},
                      {"next_offset", or_null(status.next_offset)},
                      {"end_offset", or_null(status.end_offset)},
                      {"lag", or_null(lag(status))}});
    }
    out << nlohmann::json{{"inbox", config->inbox.name},
                          {"group_id", config->inbox.GroupId()},
                          {"processed_ids", std::stoll(detail::Text(processed.value()))},
                          {"partitions", list}}
               .dump()
        << "\n";
    return base::kExitOk;
  }
  out << "inbox          " << config->inbox.name << " (group " << config->inbox.GroupId() << ")\n"
      << "processed ids  " << detail::Text(processed.value()) << "\n"
      << "topic/partition  next_offset  end_offset  lag\n";
  const auto text = [](const std::optional<std::int64_t>& value) {
    return value ? std::to_string(*value) : std::string("-");
  };
  for (const auto& status : partitions) {
    out << status.topic << "/" << status.partition << "  " << text(status.next_offset) << "  "
        << text(status.end_offset) << "  " << text(lag(status)) << "\n";
  }
  return base::kExitOk;
}

}  // namespace outbox_relay::ops
