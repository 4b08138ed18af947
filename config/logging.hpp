#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace outbox_relay::config {

/// The named logger of one component ("config", "outbox", "sinks", "relay"), created on first
/// use with the shared stderr sink. Thread-safe.
spdlog::logger& Logger(const std::string& component);

/// Applies `level` (trace|debug|info|warn|error) to every component logger. Call once at
/// start-up, after the config is validated.
void ConfigureLogging(const std::string& level);

}  // namespace outbox_relay::config
