#pragma once

// A CloudEvents 1.0.2 checker, written from the spec and independent of the relay's encoder:
// the encoder's unit tests and the end-to-end tests (records read back from Kafka) use it.

#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace outbox_relay::cloudevents_check {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Context attributes as name -> JSON value; a repeated name is a problem of its own.
struct Attributes {
  nlohmann::json values = nlohmann::json::object();
  std::vector<std::string> problems;

  void Add(const std::string& name, nlohmann::json value) {
    if (values.contains(name)) problems.push_back("attribute " + name + " appears twice");
    values[name] = std::move(value);
  }
};

// What the spec rules (core spec v1.0.2) say is wrong with `attributes`; empty if nothing.
inline std::vector<std::string> CloudEventProblems(Attributes attributes) {
  std::vector<std::string> problems = std::move(attributes.problems);
  const nlohmann::json& values = attributes.values;
  for (const char* required : {"id", "source", "specversion", "type"}) {
    if (!values.contains(required)) {
      problems.push_back(std::string("required attribute ") + required + " is missing");
    }
  }
  static const std::regex kName("[a-z0-9]+");
  // RFC 3339 date-time (section 5.6); T and Z may be lower-case.
  static const std::regex kTime(R"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))");
  // RFC 3986 URI-reference characters; the spec asks for nothing stricter of `source`.
  static const std::regex kUriReference(R"([A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+)");
  for (const auto& [name, value] : values.items()) {
    if (!std::regex_match(name, kName)) {
      problems.push_back("attribute name " + name + " is not [a-z0-9]+");
    }
    // Every attribute this relay writes is a String, and the spec's Strings that are present
    // must not be empty where it says so; an empty string is never what we mean.
    if (!value.is_string() || value.get<std::string>().empty()) {
      problems.push_back("attribute " + name + " is not a non-empty string");
    }
  }
  if (values.contains("specversion") && values["specversion"] != "1.0") {
    problems.push_back("specversion is not 1.0");
  }
  if (values.contains("source") && values["source"].is_string() &&
      !std::regex_match(values["source"].get<std::string>(), kUriReference)) {
    problems.push_back("source is not a URI-reference");
  }
  if (values.contains("time") &&
      !(values["time"].is_string() && std::regex_match(values["time"].get<std::string>(), kTime))) {
    problems.push_back("time is not RFC 3339");
  }
  return problems;
}

// Checks a structured-mode record: the value is a JSON CloudEvent declaring JSON data.
inline std::vector<std::string> StructuredProblems(const std::optional<std::string>& value) {
  if (!value) return {"a structured CloudEvent has a value"};
  const auto event = nlohmann::json::parse(*value, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object()) return {"value is not a JSON object"};
  Attributes attributes;
  for (const auto& [name, member] : event.items()) {
    if (name != "data") attributes.Add(name, member);
  }
  std::vector<std::string> problems = CloudEventProblems(std::move(attributes));
  if (event.value("datacontenttype", "") != "application/json") {
    problems.push_back("datacontenttype is not application/json");
  }
  return problems;
}

// Checks a binary-mode record's headers: ce_* attributes, datacontenttype as content-type.
inline std::vector<std::string> BinaryProblems(const Headers& headers) {
  Attributes attributes;
  for (const auto& [name, value] : headers) {
    if (name.starts_with("ce_")) attributes.Add(name.substr(3), value);
    if (name == "content-type") attributes.Add("datacontenttype", value);
  }
  std::vector<std::string> problems = CloudEventProblems(std::move(attributes));
  // A CloudEvents media type would tell the receiver this is a structured record.
  for (const auto& [name, value] : headers) {
    if (name == "content-type" && value.starts_with("application/cloudevents")) {
      problems.push_back("binary record declares a CloudEvents media type");
    }
  }
  return problems;
}

}  // namespace outbox_relay::cloudevents_check
