#pragma once

// Helpers shared by the config unit tests.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace outbox_relay::config::test_support {

/// The DSN alone: not a valid config, which must also say where events go.
inline constexpr const char* kDsnOnly = "source:\n  dsn: host=db dbname=app\n";
/// The smallest valid config: the stdout sink and the DSN (source last, so that tests may add
/// indented source keys).
inline constexpr const char* kMinimal = "sink:\n  type: stdout\nsource:\n  dsn: host=db dbname=app\n";

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

/// The minimal file plus `extra` lines; without its stdout sink when `extra` has a sink section.
inline std::string WithDsn(const std::string& extra) {
  const bool own_sink = extra.starts_with("sink:") || extra.find("\nsink:") != std::string::npos;
  return std::string(own_sink ? kDsnOnly : kMinimal) + extra;
}

/// One bad value of one key: the minimal file plus `yaml` must fail naming `key`.
struct BadValue {
  std::string yaml;         // appended to the minimal file
  std::string key;          // the key the error must name
  std::string expect_text;  // a fragment the message must contain
};

/// The test (key_table_test.cpp) runs each row; every <section>_keys_test.cpp instantiates it
/// with rows for its own keys, named after the section.
class BadValueTest : public ::testing::TestWithParam<BadValue> {};

}  // namespace outbox_relay::config::test_support
