#pragma once

namespace outbox_relay::base {

/// Exit codes of every outbox-relay command, as the README's commands table lists them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFatal = 1;
inline constexpr int kExitConfig = 2;

}  // namespace outbox_relay::base
