#include "relay/pg/pg_conninfo.hpp"

#include <libpq-fe.h>

#include <string_view>

#include "relay/pg/pg_handles.hpp"

namespace outbox_relay::pg {

PgConnectParams::PgConnectParams(const config::SourceConfig& source, Pairs defaults, const Pairs& overrides)
    : pairs_(std::move(defaults)) {
  pairs_.emplace_back("dbname", source.dsn);
  const std::pair<const char*, const std::string*> settings[] = {
      {"password", &source.password},       {"sslmode", &source.sslmode},
      {"sslrootcert", &source.sslrootcert}, {"sslcert", &source.sslcert},
      {"sslkey", &source.sslkey},           {"sslpassword", &source.sslpassword},
  };
  for (const auto& [keyword, value] : settings) {
    if (!value->empty()) pairs_.emplace_back(keyword, *value);
  }
  pairs_.insert(pairs_.end(), overrides.begin(), overrides.end());
  for (const auto& [keyword, value] : pairs_) {
    keywords_.push_back(keyword.c_str());
    values_.push_back(value.c_str());
  }
  keywords_.push_back(nullptr);
  values_.push_back(nullptr);
}

std::vector<std::string> DsnSecrets(const std::string& dsn) {
  char* raw_error = nullptr;
  PgConninfoHandle options(PQconninfoParse(dsn.c_str(), &raw_error));
  PgBufferHandle error(raw_error);
  std::vector<std::string> secrets;
  if (!options) return secrets;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    const std::string_view keyword(option->keyword);
    if ((keyword == "password" || keyword == "sslpassword") && option->val != nullptr && *option->val != '\0') {
      secrets.emplace_back(option->val);
    }
  }
  return secrets;
}

}  // namespace outbox_relay::pg
