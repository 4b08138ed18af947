// Environment overrides: every OUTBOX_RELAY_<KEY> variable replaces the file's value of <key>,
// OUTBOX_RELAY_KAFKA_<PROPERTY> sets a librdkafka property; variables Kubernetes injects for a
// Service (service_links.cpp) are ignored, anything else with the prefix is an error.

#include <unistd.h>  // environ

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config {
namespace detail {
namespace {

constexpr std::string_view kKafkaEnvPrefix = "KAFKA_";
// The environment spells kafka.<property>_file as OUTBOX_RELAY_KAFKA_<PROPERTY>_FILE, which
// reads back as the property "<property>.file".
constexpr std::string_view kKafkaEnvFileSuffix = ".file";

// The variable that overrides `key`: "outbox.columns.id" -> "OUTBOX_RELAY_OUTBOX_COLUMNS_ID".
std::string EnvName(std::string_view key) {
  std::string name = Upper(key);
  std::replace(name.begin(), name.end(), '.', '_');
  return std::string(kEnvPrefix) + name;
}

bool FromEnvironment(const RawValue& value) { return StartsWith(value.origin, kEnvPrefix); }

// A secret and its `_file` variant are one setting: the environment's replaces the file's,
// and giving both in the same place is an error.
void StoreFromEnvironment(RawValues& raw, const std::string& key, const std::string& value,
                          const std::string& variable) {
  const std::string secret = SecretOfFileKey(key);
  const std::string sibling = !secret.empty() ? secret
                              : IsSecretKey(key) ? key + std::string(kFileSuffix)
                                                 : std::string();
  if (const auto it = raw.find(sibling); !sibling.empty() && it != raw.end()) {
    if (FromEnvironment(it->second)) {
      throw ConfigError(variable, "set either " + EnvName(secret.empty() ? key : secret) + " or " +
                                      EnvName(secret.empty() ? sibling : key) + ", not both");
    }
    raw.erase(it);
  }
  raw[key] = RawValue{value, variable};
}

}  // namespace

void CollectEnvironment(const Environment& env, RawValues& raw, std::vector<std::string>& service_links) {
  // Variable -> key, the `_file` variants of secret keys included.
  std::map<std::string, std::string> known;
  for (const KeySpec& spec : Keys()) {
    known.emplace(EnvName(spec.key), spec.key);
    if (IsSecretKey(spec.key)) {
      const std::string file_key = spec.key + std::string(kFileSuffix);
      known.emplace(EnvName(file_key), file_key);
    }
  }

  for (const auto& [variable, value] : env) {
    if (!StartsWith(variable, kEnvPrefix)) continue;
    const std::string_view rest = std::string_view(variable).substr(kEnvPrefix.size());
    if (StartsWith(rest, kKafkaEnvPrefix)) {
      // Kafka Connect's convention: KAFKA_BOOTSTRAP_SERVERS -> bootstrap.servers.
      std::string property = Lower(rest.substr(kKafkaEnvPrefix.size()));
      std::replace(property.begin(), property.end(), '_', '.');
      if (property.empty() || property.front() == '.' || property.back() == '.' ||
          property.find("..") != std::string::npos) {
        throw ConfigError(variable, "does not name a librdkafka property");
      }
      std::string key = "kafka." + property;
      if (key.ends_with(kKafkaEnvFileSuffix)) {
        const std::string secret = key.substr(0, key.size() - kKafkaEnvFileSuffix.size());
        if (IsSecretKey(secret)) key = secret + std::string(kFileSuffix);
      }
      StoreFromEnvironment(raw, key, value, variable);
      continue;
    }
    const auto found = known.find(variable);
    if (found == known.end() && IsServiceLink(variable, value)) {
      service_links.push_back(variable);
      continue;
    }
    if (found == known.end()) {
      std::vector<std::string> names;
      for (const auto& entry : known) names.push_back(entry.first);
      throw ConfigError(variable, "matches no configuration key" + DidYouMean(variable, names));
    }
    StoreFromEnvironment(raw, found->second, value, variable);
  }
}

}  // namespace detail

Environment ProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!detail::StartsWith(text, detail::kEnvPrefix)) continue;
    const std::size_t equals = text.find('=');
    if (equals == std::string_view::npos) continue;
    env.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
  }
  return env;
}

}  // namespace outbox_relay::config
