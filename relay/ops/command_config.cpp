#include "relay/ops/command_config.hpp"

#include <ostream>

#include "base/redaction.hpp"
#include "relay/ops/cli.hpp"
#include "relay/pg/pg_conninfo.hpp"
#include "relay/pg/pg_handles.hpp"

namespace outbox_relay::ops {

config::Config LoadRelayConfig(const std::string& config_path) {
  config::Config config = config::LoadConfig(config_path, config::ProcessEnvironment());
  // libpq's own parse error is not shown: it quotes the text around the mistake, which may be
  // the password.
  char* raw_error = nullptr;
  const pg::PgConninfoHandle options(PQconninfoParse(config.source.dsn.c_str(), &raw_error));
  const pg::PgBufferHandle error(raw_error);
  if (!options) {
    throw config::ConfigError("source.dsn", "is not a valid libpq connection string or postgresql:// URI");
  }
  base::AddSecrets(config::SecretValues(config));
  base::AddSecrets(pg::DsnSecrets(config.source.dsn));
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
