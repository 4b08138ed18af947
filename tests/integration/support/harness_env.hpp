#pragma once

// Where the servers started by tests/harness/harness.sh are, and which relay binary to test.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace outbox_relay::it {

struct HarnessEnv {
  std::map<std::string, std::string> values;  // every KEY=VALUE line of <harness>/env

  std::string pg_host;
  std::string pg_port;
  std::string pg_user;
  std::string pg_database;
  std::string kafka_bootstrap_servers;

  /// The value of `key` in the env file; throws std::runtime_error if absent.
  const std::string& Get(const std::string& key) const;

  /// A libpq conninfo string for database `dbname` on the harness server.
  std::string ConnInfo(const std::string& dbname) const;
};

/// The KEY=VALUE lines of a shell-sourceable env file (blank lines, '#' comments, `export `
/// and quotes around values ignored). Throws std::runtime_error if the file is unreadable.
std::map<std::string, std::string> ReadEnvFile(const std::string& path);

/// ReadEnvFile, then the harness's keys. Throws on an unreadable file or a missing key.
HarnessEnv LoadHarnessEnv(const std::string& path);

/// The harness named by $OUTBOX_RELAY_HARNESS_ENV, loaded once. Throws std::runtime_error
/// with a hint when the variable or the file is missing.
const HarnessEnv& Harness();

/// The harness's PostgreSQL major (harness.sh start --pg N; 15 by default).
int HarnessPgMajor();

/// True in the long mode (OUTBOX_RELAY_LONG=1, scripts/test.sh --long): the slow variants run.
bool LongRun();

/// $OUTBOX_RELAY_BINARY (the outbox-relay executable). Throws if unset or not executable.
std::string RelayBinary();

/// $OUTBOX_RELAY_SOURCE_DIR (the project checkout). Throws if unset.
std::string SourceDir();

/// Runs `<script> <args>`, its output appended to <log_dir>/<script name>.{stdout,stderr}.
/// Waits up to `timeout`; throws std::runtime_error (with the script's stderr tail) if it fails
/// or takes longer. Returns how long it took.
std::chrono::steady_clock::duration RunScript(const std::string& script, const std::vector<std::string>& args,
                                              const std::string& log_dir, std::chrono::milliseconds timeout);

/// Runs `tests/harness/harness.sh <command> <HARNESS_DIR> <args>` (e.g. "restart-kafka",
/// "restart-pg"; "crash-extra-pg" with the server's name) on the running harness, its output
/// appended to <log_dir>/harness.{stdout,stderr}. Waits up to `timeout`; throws
/// std::runtime_error (with the script's stderr tail) if it fails or takes longer. Returns how
/// long it took.
std::chrono::steady_clock::duration RunHarnessCommand(const std::string& command, const std::string& log_dir,
                                                      std::chrono::milliseconds timeout,
                                                      const std::vector<std::string>& args = {});

/// The value of environment variable `name`, or throws naming it.
std::string RequireEnv(const char* name);

}  // namespace outbox_relay::it
