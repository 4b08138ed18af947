#include "relay/ops/command_config.hpp"

#include <ostream>
#include <utility>

#include "base/redaction.hpp"
#include "relay/ops/cli.hpp"
#include "relay/pg/pg_conninfo.hpp"

namespace outbox_relay::ops {

config::Config LoadRelayConfig(const std::string& config_path) {
  config::Config config = config::LoadConfig(config_path, config::ProcessEnvironment());
  // Each DSN must parse (libpq's own rules), and the password inside it is a secret.
  const auto check_dsn = [](const char* key, const std::string& dsn) {
    if (!pg::ParseDsn(dsn))
      throw config::ConfigError(key, "is not a valid libpq connection string or postgresql:// URI");
    base::AddSecrets(pg::DsnSecrets(dsn));
  };
  check_dsn("source.dsn", config.source.dsn);
  if (!config.heartbeat.dsn.empty()) check_dsn("heartbeat.dsn", config.heartbeat.dsn);
  base::AddSecrets(config::SecretValues(config));
  return config;
}

namespace detail {

void WriteConfigError(const config::ConfigError& error, std::ostream& err) {
  err << "outbox-relay: config error: " << error.what() << "\n";
}

std::optional<config::Config> LoadCommandConfig(const std::string& config_path, std::ostream& err) {
  try {
    return LoadRelayConfig(config_path);
  } catch (const config::ConfigError& error) {
    WriteConfigError(error, err);
    return std::nullopt;
  }
}

std::optional<Database> ConnectForCommand(const config::SourceConfig& source, const std::string& command,
                                          std::ostream& err) {
  const std::string application = "outbox-relay " + command;
  auto connected = Database::Connect(source, application.c_str());
  if (!connected) {
    err << "outbox-relay: " << command << ": " << DescribeDsn(source.dsn) << ": " << connected.error().message
        << "\n";
    return std::nullopt;
  }
  return std::move(connected.value());
}

}  // namespace detail
}  // namespace outbox_relay::ops
