#include "relay/ops/command_config.hpp"

#include <ostream>

#include "base/redaction.hpp"
#include "relay/ops/cli.hpp"
#include "relay/pg/pg_conninfo.hpp"

namespace outbox_relay::ops {

config::Config LoadRelayConfig(const std::string& config_path) {
  config::Config config = config::LoadConfig(config_path, config::ProcessEnvironment());
  if (!pg::ParseDsn(config.source.dsn)) {
    throw config::ConfigError("source.dsn", "is not a valid libpq connection string or postgresql:// URI");
  }
  if (!config.heartbeat.dsn.empty() && !pg::ParseDsn(config.heartbeat.dsn)) {
    throw config::ConfigError("heartbeat.dsn", "is not a valid libpq connection string or postgresql:// URI");
  }
  base::AddSecrets(config::SecretValues(config));
  base::AddSecrets(pg::DsnSecrets(config.source.dsn));
  base::AddSecrets(pg::DsnSecrets(config.heartbeat.dsn));
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

}  // namespace detail
}  // namespace outbox_relay::ops
