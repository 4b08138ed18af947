#pragma once

// PostgreSQL servers beside the harness's shared one, for the tests whose server must differ
// (wal_level=replica) or must die (a primary that fails over): started by
// tests/harness/harness.sh start-extra-pg / start-extra-standby, stopped (files removed) by the
// destructor, whatever the test did to them.

#include <string>
#include <vector>

#include "support/harness_env.hpp"

namespace outbox_relay::it {

class ExtraPostgres {
 public:
  /// A fresh cluster of the harness's major with these postgresql.conf settings ("key=value").
  /// Throws std::runtime_error (with the script's stderr) if it does not start.
  ExtraPostgres(std::string name, const std::vector<std::string>& settings, std::string log_dir);

  /// A synchronous physical standby of `primary` (harness.sh start-extra-standby: from 17 it
  /// synchronises the primary's failover slots), on `port` if not empty. Returns once it streams.
  static ExtraPostgres StandbyOf(const ExtraPostgres& primary, std::string name, std::string log_dir,
                                 const std::string& port = "");

  ~ExtraPostgres();
  ExtraPostgres(ExtraPostgres&& other) noexcept;
  ExtraPostgres(const ExtraPostgres&) = delete;
  ExtraPostgres& operator=(const ExtraPostgres&) = delete;
  ExtraPostgres& operator=(ExtraPostgres&&) = delete;

  const std::string& Name() const { return name_; }
  const std::string& Port() const { return port_; }
  std::string ConnInfo(const std::string& dbname, const std::string& user = "postgres") const;
  /// The harness's env with this server as its PostgreSQL (for TestDatabase).
  HarnessEnv AsHarness() const;

  /// Stops it the hard way (pg_ctl stop -m immediate), keeping its files.
  void Crash();
  /// Ends its recovery: a standby becomes a primary.
  void Promote();

 private:
  // harness.sh <start_command> DIR <name> <start_args>.
  ExtraPostgres(std::string name, std::string log_dir, const std::string& start_command,
                std::vector<std::string> start_args);

  std::string name_;
  std::string log_dir_;
  std::string port_;
  bool started_ = false;
};

}  // namespace outbox_relay::it
