#include "config/logging.hpp"

#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace outbox_relay::config {

namespace {

struct LoggingState {
  std::mutex mutex;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;
};

LoggingState& State() {
  static LoggingState state;
  return state;
}

}  // namespace

spdlog::logger& Logger(const std::string& component) {
  auto& state = State();
  std::lock_guard lock(state.mutex);
  if (auto existing = spdlog::get(component)) return *existing;
  auto logger = std::make_shared<spdlog::logger>(component, state.sink);
  logger->set_level(state.level);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v", spdlog::pattern_time_type::utc);
  spdlog::register_logger(logger);
  return *logger;
}

void ConfigureLogging(const std::string& level) {
  auto& state = State();
  {
    std::lock_guard lock(state.mutex);
    state.level = spdlog::level::from_str(level);
  }
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) { logger->set_level(state.level); });
}

}  // namespace outbox_relay::config
