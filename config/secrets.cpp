// Secrets: which keys hold credentials (their values never appear in messages), their
// `<key>_file` variants read from files, and the values the relay's logs must redact.

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config {
namespace {

// A secret is a password or a key: anything larger is the wrong file (or /dev/zero).
constexpr std::size_t kMaxSecretFileBytes = 1 << 20;

}  // namespace

namespace detail {

std::string SecretOfFileKey(std::string_view key) {
  if (!key.ends_with(kFileSuffix)) return "";
  std::string secret(key.substr(0, key.size() - kFileSuffix.size()));
  return IsSecretKey(secret) ? secret : "";
}

std::string Shown(std::string_view key, std::string_view value) {
  if (IsSecretKey(key)) return "(value hidden)";
  return "\"" + std::string(value) + "\"";
}

// Replaces each `<secret key>_file` entry by the secret read from that file, which keeps the
// entry's origin so that errors about the value name the setting that supplied it.
void ResolveSecretFiles(RawValues& raw, const SecretFileReader& read_file) {
  for (auto it = raw.begin(); it != raw.end();) {
    const std::string secret = SecretOfFileKey(it->first);
    if (secret.empty()) {
      ++it;
      continue;
    }
    const RawValue file = it->second;
    if (raw.contains(secret)) {
      throw ConfigError(file.origin, "set either " + secret + " or " + it->first + ", not both");
    }
    if (file.text.empty()) throw ConfigError(file.origin, "expected the path of a file");
    std::string text;
    try {
      text = read_file(file.text);
    } catch (const std::exception& error) {
      throw ConfigError(file.origin, "cannot read " + file.text + ": " + error.what());
    }
    // `echo secret > file` and most secret stores end the file with a line break.
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) throw ConfigError(file.origin, file.text + " is empty");
    raw[secret] = RawValue{std::move(text), file.origin};
    it = raw.erase(it);
  }
}

}  // namespace detail

bool IsSecretKey(std::string_view key) {
  if (key == "source.dsn" || key == "source.password" || key == "source.sslpassword" || key == "heartbeat.dsn" ||
      key == "rabbitmq.password") {
    return true;
  }
  if (!detail::IsKafkaKey(key)) return false;
  const std::string property = detail::Lower(key.substr(detail::kKafkaSection.size() + 1));
  // An inline private key, and the OAUTHBEARER config that may hold a client secret.
  if (property == "ssl.key.pem" || property == "sasl.oauthbearer.config") return true;
  return property.find("password") != std::string::npos || property.find("secret") != std::string::npos;
}

std::vector<std::string> SecretValues(const Config& config) {
  std::vector<std::string> values;
  for (const std::string* value :
       {&config.source.password, &config.source.sslpassword, &config.rabbitmq.password}) {
    if (!value->empty()) values.push_back(*value);
  }
  for (const auto& [property, value] : config.kafka) {
    if (!value.empty() && IsSecretKey(std::string(detail::kKafkaSection) + "." + property)) {
      values.push_back(value);
    }
  }
  return values;
}

std::optional<SourceConfig> PrimarySource(const Config& config) {
  if (config.heartbeat.dsn.empty()) return std::nullopt;
  SourceConfig primary = config.source;
  primary.dsn = config.heartbeat.dsn;
  return primary;
}

std::string ReadSecretFile(const std::string& path) { return detail::ReadFileText(path, kMaxSecretFileBytes); }

}  // namespace outbox_relay::config
