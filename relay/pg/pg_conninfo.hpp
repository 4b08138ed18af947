#pragma once

// The libpq parameters of every connection to the source database, built in one place: the
// relay's replication and monitoring sessions and the commands (check, init, status, replay)
// all connect alike, so TLS and password settings apply everywhere.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace outbox_relay::pg {

/// Keyword and value arrays for PQconnectdbParams / PQconnectStartParams with
/// expand_dbname = 1. libpq applies keywords in order, a later one winning: `defaults`, then
/// source.dsn (expanded from dbname), then the source.password / sslmode / sslrootcert /
/// sslcert / sslkey / sslpassword settings that are set, then `overrides`. The arrays point
/// into this object: keep it alive while libpq reads them (the connect call).
class PgConnectParams {
 public:
  using Pairs = std::vector<std::pair<std::string, std::string>>;

  PgConnectParams(const config::SourceConfig& source, Pairs defaults, const Pairs& overrides);
  PgConnectParams(const PgConnectParams&) = delete;
  PgConnectParams& operator=(const PgConnectParams&) = delete;

  const char* const* Keywords() const { return keywords_.data(); }
  const char* const* Values() const { return values_.data(); }

 private:
  Pairs pairs_;
  std::vector<const char*> keywords_;  // null-terminated, pointing into pairs_
  std::vector<const char*> values_;
};

/// The keywords a DSN (key=value or postgresql:// URI) sets, with their values, as libpq parses
/// it; none when libpq cannot. libpq's own parse error is not kept: it quotes the text around
/// the mistake, which may be the password.
std::optional<std::map<std::string, std::string>> ParseDsn(const std::string& dsn);

/// The secrets inside a DSN (its password and sslpassword), for redaction; none when libpq
/// cannot parse it.
std::vector<std::string> DsnSecrets(const std::string& dsn);

}  // namespace outbox_relay::pg
