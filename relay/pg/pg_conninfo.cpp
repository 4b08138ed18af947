#include "relay/pg/pg_conninfo.hpp"

#include <libpq-fe.h>

#include "relay/pg/pg_handles.hpp"

namespace outbox_relay::pg {

PgConnectParams::PgConnectParams(const config::SourceConfig& source, Pairs defaults, const Pairs& overrides)
    : pairs_(std::move(defaults)) {
  pairs_.emplace_back("dbname", source.dsn);
  const std::pair<const char*, const std::string*> settings[] = {
      {"password", &source.password}, {"sslmode", &source.sslmode}, {"sslrootcert", &source.sslrootcert},
      {"sslcert", &source.sslcert},   {"sslkey", &source.sslkey},   {"sslpassword", &source.sslpassword},
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

std::optional<std::map<std::string, std::string>> ParseDsn(const std::string& dsn) {
  char* raw_error = nullptr;
  const base::CHandle<PQconninfoOption, PQconninfoFree> options(PQconninfoParse(dsn.c_str(), &raw_error));
  const PgBufferHandle error(raw_error);
  if (!options) return std::nullopt;
  std::map<std::string, std::string> keywords;
  for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val != nullptr) keywords.emplace(option->keyword, option->val);
  }
  return keywords;
}

std::vector<std::string> DsnSecrets(const std::string& dsn) {
  std::vector<std::string> secrets;
  const auto keywords = ParseDsn(dsn);
  if (!keywords) return secrets;
  for (const char* keyword : {"password", "sslpassword"}) {
    const auto found = keywords->find(keyword);
    if (found != keywords->end() && !found->second.empty()) secrets.push_back(found->second);
  }
  return secrets;
}

}  // namespace outbox_relay::pg
