// The entry points: ParseConfig runs the steps of config_detail.hpp in order; LoadConfig reads
// the file first.

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config {

// Also the file system's SecretFileReader (secrets.cpp), with a size limit.
std::string detail::ReadFileText(const std::string& path, std::size_t max_bytes) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error(std::strerror(errno));
  std::string text;
  std::array<char, 8192> buffer{};
  std::size_t count = 0;
  while (text.size() <= max_bytes && (count = std::fread(buffer.data(), 1, buffer.size(), file)) > 0) {
    text.append(buffer.data(), count);
  }
  // fread on a directory fails with EISDIR; report it like any other read failure.
  const int error = std::ferror(file) != 0 ? errno : 0;
  std::fclose(file);
  if (error != 0) throw std::runtime_error(std::strerror(error));
  if (text.size() > max_bytes) throw std::runtime_error("larger than " + std::to_string(max_bytes) + " bytes");
  return text;
}

Config ParseConfig(std::string_view yaml_text, const Environment& env, const SecretFileReader& read_file) {
  using detail::KeySpec;
  using detail::RawValues;
  RawValues raw;
  detail::RuleLists rules;
  detail::CollectFile(yaml_text, raw, rules);
  Config config;
  detail::CollectEnvironment(env, raw, config.ignored_service_links);
  detail::ResolveSecretFiles(raw, read_file);

  for (const KeySpec& spec : detail::Keys()) {
    if (const auto it = raw.find(spec.key); it != raw.end()) {
      spec.assign(config, it->second.text, it->second.origin);
    }
  }
  for (const auto& [key, value] : raw) {
    if (detail::IsKafkaKey(key)) {
      config.kafka[key.substr(detail::kKafkaSection.size() + 1)] = value.text;
    }
  }

  for (const KeySpec& spec : detail::Keys()) {
    if (detail::Problem problem = spec.check(config)) {
      const auto it = raw.find(spec.key);
      throw ConfigError(it == raw.end() ? spec.key : it->second.origin, *problem);
    }
  }
  // A default sink would be a silent one: stdout confirms the slot, so events meant for Kafka
  // would be gone. Kafka settings say Kafka; without them the user must say.
  if (!raw.contains("sink.type")) {
    if (config.kafka.empty()) {
      throw ConfigError("sink.type",
                        "is not set and there are no kafka settings: set sink.type: kafka (with "
                        "kafka.bootstrap.servers) to publish to Kafka, sink.type: rabbitmq (with "
                        "rabbitmq.host) to publish to RabbitMQ, or sink.type: stdout to print the events");
    }
    config.sink.type = SinkType::kKafka;
    config.sink.chosen_by_kafka_section = true;
  }
  detail::AssignRoutes(config, rules[std::string(detail::kRoutesKey)]);
  detail::AssignInboxHandlers(config, rules[std::string(detail::kInboxHandlersKey)]);
  detail::CheckKafka(config, raw);
  return config;
}

Config LoadConfig(const std::string& path, const Environment& env) {
  if (path.empty()) return ParseConfig("", env);
  std::string text;
  try {
    text = detail::ReadFileText(path, std::numeric_limits<std::size_t>::max());
  } catch (const std::runtime_error& error) {
    throw ConfigError("config", "cannot read " + path + ": " + error.what());
  }
  return ParseConfig(text, env);
}

}  // namespace outbox_relay::config
