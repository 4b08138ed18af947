#pragma once

// The inbox's log component, shared by its files.

#include "base/logging.hpp"

namespace outbox_relay::inbox {

inline spdlog::logger& InboxLog() { return base::Logger("inbox"); }

}  // namespace outbox_relay::inbox
