#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "config/config.hpp"

namespace outbox_relay::config {

/// The named logger of one component ("config", "outbox", "sinks", "relay"), created on first
/// use with the shared stderr sink. Thread-safe.
spdlog::logger& Logger(const std::string& component);

/// Applies `log.level` (trace|debug|info|warn|error) to every component logger, existing and
/// future, and `log.format` to the shared sink: "text" is one human-readable line per message,
/// "json" one JSON object per line with the fields time, level, logger and message. Call once
/// at start-up, after the config is validated; throws std::invalid_argument on an unknown level
/// or format rather than silently logging nothing.
void ConfigureLogging(const LogConfig& log);

/// Replaces the shared sink of every component logger, existing and future, keeping the
/// configured format; nullptr restores stderr. Not thread-safe against concurrent logging.
void SetLogSinkForTest(spdlog::sink_ptr sink);

}  // namespace outbox_relay::config
