#pragma once

// The config an operator command runs with (LoadRelayConfig, cli.hpp), and the one line a
// config error becomes on the command's error stream.

#include <iosfwd>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace outbox_relay::ops::detail {

/// "outbox-relay: config error: <key>: <message>" on `err`.
void WriteConfigError(const config::ConfigError& error, std::ostream& err);

/// LoadRelayConfig, or nullopt after WriteConfigError (the command then exits 2).
std::optional<config::Config> LoadCommandConfig(const std::string& config_path, std::ostream& err);

}  // namespace outbox_relay::ops::detail
