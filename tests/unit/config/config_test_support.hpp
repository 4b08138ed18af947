#pragma once

// Helpers shared by the config unit tests.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace outbox_relay::config::test_support {

inline constexpr const char* kMinimal = "source:\n  dsn: host=db dbname=app\n";

/// Runs ParseConfig expecting a ConfigError and returns it, so tests can look at key and text.
inline ConfigError ErrorFrom(std::string_view yaml, const Environment& env = {}) {
  try {
    ParseConfig(yaml, env);
  } catch (const ConfigError& error) {
    return error;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
  return ConfigError("none", "no error");
}

/// The minimal file plus `extra` lines.
inline std::string WithDsn(const std::string& extra) { return std::string(kMinimal) + extra; }

}  // namespace outbox_relay::config::test_support
