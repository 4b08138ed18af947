// What the operator commands share beyond their own files (check.cpp, init.cpp, status.cpp):
// how a DSN may be shown, and the version line. The config every command loads is in
// command_config.cpp.

#include "relay/ops/cli.hpp"

#include <string_view>

#include "base/version.hpp"
#include "relay/pg/pg_handles.hpp"

namespace outbox_relay::ops {

std::string DescribeDsn(const std::string& dsn) {
  char* raw_error = nullptr;
  const pg::PgConninfoHandle options(PQconninfoParse(dsn.c_str(), &raw_error));
  const pg::PgBufferHandle error(raw_error);
  if (!options) return "(unparsable DSN)";
  auto value = [&](std::string_view keyword) -> std::string {
    for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
      if (option->keyword == keyword && option->val != nullptr) return option->val;
    }
    return "";
  };
  std::string text;
  auto add = [&](const char* key, const std::string& part) {
    if (part.empty()) return;
    if (!text.empty()) text += ' ';
    text += std::string(key) + "=" + part;
  };
  // Only these four: the password, and sslkey/sslpassword paths, stay out of every message.
  const std::string host = value("host");
  add("host", host.empty() ? value("hostaddr") : host);
  add("port", value("port"));
  add("dbname", value("dbname"));
  add("user", value("user"));
  return text.empty() ? "(libpq defaults)" : text;
}

std::string VersionLine() {
  return "outbox-relay " + std::string(base::kVersion) + " (" + std::string(base::kGitRevision) + ")";
}

}  // namespace outbox_relay::ops
