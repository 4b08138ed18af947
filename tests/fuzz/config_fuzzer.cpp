// libFuzzer target: configuration loading, YAML text plus environment overrides, through
// validation (ParseConfig) and into the event mapper, which compiles the topic templates and
// routing rules validation has accepted.
//
// Input layout: the YAML text up to the first NUL byte; after it, NUL-separated environment
// entries NAME=VALUE (ParseConfig takes the environment as a map, so no process state is
// touched). An entry without '=' is a variable with an empty value.
//
// ParseConfig promises ConfigError for every bad input, so that is the only exception allowed
// out of it; anything else (a yaml-cpp exception, std::out_of_range, ...) is a finding. A
// config that validated must build an EventMapper without any exception.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "outbox/event_mapper.hpp"

namespace outbox_relay::fuzz {
namespace {

config::Environment ParseEnvironment(std::string_view entries) {
  config::Environment env;
  while (!entries.empty()) {
    const std::size_t end = entries.find('\0');
    const std::string_view entry = entries.substr(0, end);
    entries.remove_prefix(end == std::string_view::npos ? entries.size() : end + 1);
    if (entry.empty()) continue;
    const std::size_t equals = entry.find('=');
    if (equals == std::string_view::npos) {
      env[std::string(entry)] = "";
    } else {
      env[std::string(entry.substr(0, equals))] = std::string(entry.substr(equals + 1));
    }
  }
  return env;
}

void Load(std::string_view input) {
  const std::size_t nul = input.find('\0');
  const std::string_view yaml = input.substr(0, nul);
  const config::Environment env =
      ParseEnvironment(nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1));
  config::Config config;
  try {
    config = config::ParseConfig(yaml, env);
  } catch (const config::ConfigError& error) {
    // The message is what the operator sees: it must name a key.
    if (error.key().empty()) {
      std::fprintf(stderr, "ConfigError without a key: %s\n", error.what());
      std::abort();
    }
    return;
  }
  const outbox::EventMapper mapper(config.outbox);
  for (const config::TableName& table : config.outbox.tables) {
    mapper.KeyColumns(outbox::EventOrigin::Table(table));
  }
  for (const std::string& prefix : config.outbox.message_prefixes) {
    mapper.KeyColumns(outbox::EventOrigin::Message(prefix));
  }
}

}  // namespace
}  // namespace outbox_relay::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  outbox_relay::fuzz::Load(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
