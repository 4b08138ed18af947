#pragma once

// The config an operator command runs with (LoadRelayConfig, cli.hpp), and the one line a
// config error becomes on the command's error stream; its database session likewise.

#include <iosfwd>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "relay/ops/database.hpp"

namespace outbox_relay::ops::detail {

/// "outbox-relay: config error: <key>: <message>" on `err`.
void WriteConfigError(const config::ConfigError& error, std::ostream& err);

/// LoadRelayConfig, or nullopt after WriteConfigError (the command then exits 2).
std::optional<config::Config> LoadCommandConfig(const std::string& config_path, std::ostream& err);

/// A session for the command `command` ("status"), or nullopt after
/// "outbox-relay: <command>: <the DSN, without secrets>: <why>" on `err` (the command exits 1).
std::optional<Database> ConnectForCommand(const config::SourceConfig& source, const std::string& command,
                                          std::ostream& err);

}  // namespace outbox_relay::ops::detail
