#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace outbox_relay::base {

/// The named logger of one component ("config", "outbox", "sinks", "relay"), created on first
/// use with the shared stderr sink. Thread-safe.
spdlog::logger& Logger(const std::string& component);

/// The "relay" component's logger: the pipeline, its PostgreSQL side, the slot monitor and the
/// shutdown all log as the one component operators filter on.
inline spdlog::logger& RelayLog() { return Logger("relay"); }

/// Applies `level` (trace|debug|info|warn|error; config key log.level) to every component
/// logger, existing and future, and `format` (log.format) to the shared sink: "text" is one
/// human-readable line per message, "json" one JSON object per line with the fields time,
/// level, logger and message. Call once
/// at start-up, after the config is validated; throws std::invalid_argument on an unknown level
/// or format rather than silently logging nothing.
void ConfigureLogging(const std::string& level, const std::string& format);

/// Replaces the shared sink of every component logger, existing and future, keeping the
/// configured format; nullptr restores stderr. Not thread-safe against concurrent logging.
void SetLogSinkForTest(spdlog::sink_ptr sink);

}  // namespace outbox_relay::base
