#pragma once

// Private to sinks/: the logger every sink writes to.

#include <spdlog/logger.h>

namespace outbox_relay::sinks::detail {

/// The "sinks" logger (defined in kafka_sink.cpp).
spdlog::logger& Log();

}  // namespace outbox_relay::sinks::detail
