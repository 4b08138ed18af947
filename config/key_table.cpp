// The key table joined from its sections, lookups by name, and the list of keys the README
// documents (ConfigurationKeys).

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config {
namespace detail {

const std::vector<KeySpec>& Keys() {
  static const std::vector<KeySpec> kKeys = [] {
    std::vector<KeySpec> table;
    for (auto section : {SourceKeys, OutboxKeys, DeliveryKeys, RabbitMqKeys, InboxKeys, OperationalKeys}) {
      std::vector<KeySpec> keys_of_section = section();
      table.insert(table.end(), keys_of_section.begin(), keys_of_section.end());
    }
    return table;
  }();
  return kKeys;
}

const KeySpec* FindKey(std::string_view key) {
  for (const KeySpec& spec : Keys()) {
    if (spec.key == key) return &spec;
  }
  return nullptr;
}

// True for "source", "outbox", "outbox.columns", ...: a map whose children are keys.
bool IsSection(std::string_view path) {
  if (path == kKafkaSection) return true;
  return std::any_of(Keys().begin(), Keys().end(), [path](const KeySpec& spec) {
    return StartsWith(spec.key, path) && spec.key.size() > path.size() && spec.key[path.size()] == '.';
  });
}

// Every key and section name, for did-you-mean suggestions in the file.
std::vector<std::string> FileNames() {
  std::vector<std::string> names{std::string(kKafkaSection)};
  for (const RuleListSpec& list : RuleListSpecs()) names.emplace_back(list.key);
  for (const KeySpec& spec : Keys()) {
    names.push_back(spec.key);
    for (std::size_t dot = spec.key.find('.'); dot != std::string::npos; dot = spec.key.find('.', dot + 1)) {
      names.push_back(spec.key.substr(0, dot));
    }
  }
  return names;
}

bool IsKafkaKey(std::string_view key) {
  return StartsWith(key, kKafkaSection) && key.size() > kKafkaSection.size() && key[kKafkaSection.size()] == '.';
}

}  // namespace detail

std::vector<std::string> ConfigurationKeys() {
  std::vector<std::string> keys{std::string(detail::kKafkaSection) + ".*"};
  for (const detail::RuleListSpec& list : detail::RuleListSpecs()) keys.emplace_back(list.key);
  for (const detail::KeySpec& spec : detail::Keys()) keys.push_back(spec.key);
  return keys;
}

}  // namespace outbox_relay::config
