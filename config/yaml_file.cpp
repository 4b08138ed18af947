// Reading the YAML file (yaml-cpp) into raw values: sections walked into dotted keys, kafka
// properties flattened, list keys joined, routing rules kept apart; nothing converted yet.
// The only file of the relay that speaks yaml-cpp.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/config_detail.hpp"
#include "config/key_table.hpp"

namespace outbox_relay::config::detail {
namespace {

std::string_view Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

// Plain YAML booleans become "true"/"false", the spelling librdkafka accepts; a quoted
// scalar (tag "!") is a string and passes through untouched, as do numbers as written.
std::string KafkaValue(const YAML::Node& node) {
  if (node.Tag() == "?") {
    if (const std::optional<bool> value = ParseBool(node.Scalar());
        value && node.Scalar() != "1" && node.Scalar() != "0") {
      return *value ? "true" : "false";
    }
  }
  return node.Scalar();
}

void Store(RawValues& raw, const std::string& key, std::string text) {
  // yaml-cpp keeps both entries of a repeated key; silently taking one would hide a mistake.
  if (!raw.emplace(key, RawValue{std::move(text), key}).second) {
    throw ConfigError(key, "is set more than once in the file");
  }
}

std::string KeyName(const YAML::Node& key, const std::string& path) {
  if (!key.IsScalar() || key.Scalar().empty()) {
    throw ConfigError(path.empty() ? "config" : path, "keys must be non-empty plain names");
  }
  return path.empty() ? key.Scalar() : path + "." + key.Scalar();
}

// One librdkafka property, or a map of them: nested maps are flattened, so
// `bootstrap: {servers: x}` means the same as `bootstrap.servers: x`.
void CollectKafka(const std::string& key, const YAML::Node& value, RawValues& raw) {
  if (value.IsMap()) {
    for (const auto& entry : value) CollectKafka(KeyName(entry.first, key), entry.second, raw);
  } else if (value.IsScalar()) {
    Store(raw, key, KafkaValue(value));
  } else {
    throw ConfigError(key, "expected a scalar librdkafka property value, got " + std::string(Describe(value)));
  }
}

// A list key written as a YAML sequence: its items joined the way the environment spells it.
std::string JoinSequence(const std::string& key, const YAML::Node& sequence) {
  std::string joined;
  for (std::size_t i = 0; i < sequence.size(); ++i) {
    const YAML::Node& item = sequence[i];
    const std::string where = key + "[" + std::to_string(i) + "]";
    if (!item.IsScalar()) {
      throw ConfigError(where, "expected a name, got " + std::string(Describe(item)));
    }
    if (item.Scalar().find(',') != std::string::npos) {
      throw ConfigError(where, "must not contain a comma, got \"" + item.Scalar() + "\"");
    }
    joined += (i == 0 ? "" : ",") + item.Scalar();
  }
  return joined;
}

// A list of rules is a sequence of mappings of scalars; each rule's fields are stored under
// "<list>[i].<field>" for the errors.
void CollectRules(const YAML::Node& node, const RuleListSpec& list, RuleLists& rules) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    throw ConfigError(std::string(list.key), "expected a sequence of rules, got " + std::string(Describe(node)));
  }
  std::vector<RawValues>& collected = rules[std::string(list.key)];
  for (std::size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& rule = node[i];
    if (!rule.IsMap()) {
      throw ConfigError(RuleKey(list.key, i, ""),
                        "expected a mapping (one rule), got " + std::string(Describe(rule)));
    }
    RawValues fields;
    for (const auto& entry : rule) {
      const std::string name = KeyName(entry.first, "");
      const std::string key = RuleKey(list.key, i, name);
      const auto& known = list.fields;
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw ConfigError(key, "unknown field of a rule" + DidYouMean(name, known));
      }
      if (!entry.second.IsScalar()) {
        throw ConfigError(key, "expected a string, got " + std::string(Describe(entry.second)));
      }
      if (!fields.emplace(name, RawValue{entry.second.Scalar(), key}).second) {
        throw ConfigError(key, "is set more than once in the rule");
      }
    }
    collected.push_back(std::move(fields));
  }
}

const RuleListSpec* FindRuleList(std::string_view key) {
  for (const RuleListSpec& list : RuleListSpecs()) {
    if (list.key == key) return &list;
  }
  return nullptr;
}

void CollectSection(const YAML::Node& node, const std::string& path, RawValues& raw, RuleLists& rules) {
  for (const auto& entry : node) {
    const std::string key = KeyName(entry.first, path);
    const YAML::Node& value = entry.second;
    if (key == kKafkaSection) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        throw ConfigError(key, "expected a mapping of librdkafka properties, got " + std::string(Describe(value)));
      }
      CollectKafka(key, value, raw);
    } else if (IsKafkaKey(key)) {
      CollectKafka(key, value, raw);  // written flat at the top level: `kafka.acks: all`
    } else if (const RuleListSpec* list = FindRuleList(key)) {
      CollectRules(value, *list, rules);
    } else if (const KeySpec* spec = FindKey(key)) {
      if (spec->list && value.IsSequence()) {
        Store(raw, key, JoinSequence(key, value));
        continue;
      }
      if (!value.IsScalar()) {
        throw ConfigError(key,
                          "expected " + std::string(spec->expected) + ", got " + std::string(Describe(value)));
      }
      Store(raw, key, value.Scalar());
    } else if (IsSection(key)) {
      if (value.IsNull()) continue;  // an empty section keeps its defaults
      if (!value.IsMap()) {
        throw ConfigError(key, "expected a mapping (a section), got " + std::string(Describe(value)));
      }
      CollectSection(value, key, raw, rules);
    } else if (!SecretOfFileKey(key).empty()) {
      if (!value.IsScalar()) {
        throw ConfigError(key, "expected the path of a file, got " + std::string(Describe(value)));
      }
      Store(raw, key, value.Scalar());
    } else {
      throw ConfigError(key, "unknown key" + DidYouMean(key, FileNames()));
    }
  }
}

// Counts the documents of a YAML stream from the parser's events; nothing else is kept.
class DocumentCounter final : public YAML::EventHandler {
 public:
  std::size_t count() const { return count_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 never consumes a stray ',' where a document's node should be: every
    // HandleNextDocument then "reads" another null document at the same place, forever
    // (YAML::LoadAll allocates until memory runs out; found by fuzzing).
    if (count_ > 0 && mark.pos == last_start_.pos) {
      throw YAML::ParserException(mark, "unexpected ','");
    }
    last_start_ = mark;
    ++count_;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::size_t count_ = 0;
  YAML::Mark last_start_;
};

}  // namespace

const std::vector<RuleListSpec>& RuleListSpecs() {
  static const std::vector<RuleListSpec> kLists = {
      {kRoutesKey, {"source", "aggregate_type", "type", "topic", "key", "format", "exchange"}},
      {kInboxHandlersKey, {"topic", "type", "function"}},
  };
  return kLists;
}

std::string RuleKey(std::string_view list, std::size_t index, std::string_view field) {
  return std::string(list) + "[" + std::to_string(index) + "]" + (field.empty() ? "" : "." + std::string(field));
}

void CollectFile(std::string_view yaml_text, RawValues& raw, RuleLists& rules) {
  const std::string text(yaml_text);
  YAML::Node document;
  try {
    // Two documents are enough to refuse the file; only then is the first one loaded.
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.count() < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.count() > 1) throw ConfigError("config", "expected a single YAML document");
    document = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    std::string where;
    if (!e.mark.is_null()) {
      where = " at line " + std::to_string(e.mark.line + 1) + ", column " + std::to_string(e.mark.column + 1);
    }
    throw ConfigError("config", "invalid YAML" + where + ": " + e.msg);
  }
  if (document.IsNull()) return;  // empty file or only comments: all defaults
  if (!document.IsMap()) {
    throw ConfigError("config",
                      "expected a mapping of sections at the top level, got " + std::string(Describe(document)));
  }
  CollectSection(document, "", raw, rules);
}

}  // namespace outbox_relay::config::detail
