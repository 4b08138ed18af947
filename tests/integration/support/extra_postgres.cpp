#include "support/extra_postgres.hpp"

#include <iostream>
#include <stdexcept>
#include <utility>

namespace outbox_relay::it {

using namespace std::chrono_literals;

ExtraPostgres::ExtraPostgres(std::string name, std::string log_dir, const std::vector<std::string>& start_args)
    : name_(std::move(name)), log_dir_(std::move(log_dir)) {
  RunHarness(start_args, 120s);
  started_ = true;
  port_ = ReadEnvFile(Harness().Get("HARNESS_DIR") + "/" + name_ + ".env").at("PGPORT");
}

namespace {

std::vector<std::string> StartArgs(const std::string& command, const std::string& name,
                                   const std::vector<std::string>& rest) {
  std::vector<std::string> args = {command, Harness().Get("HARNESS_DIR"), name};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

}  // namespace

ExtraPostgres::ExtraPostgres(std::string name, const std::vector<std::string>& settings, std::string log_dir)
    : ExtraPostgres(name, std::move(log_dir), StartArgs("start-extra-pg", name, settings)) {}

ExtraPostgres ExtraPostgres::StandbyOf(const ExtraPostgres& primary, std::string name, std::string log_dir) {
  auto args = StartArgs("start-extra-standby", name, {primary.name_});
  return ExtraPostgres(std::move(name), std::move(log_dir), args);
}

ExtraPostgres::ExtraPostgres(ExtraPostgres&& other) noexcept
    : name_(std::move(other.name_)),
      log_dir_(std::move(other.log_dir_)),
      port_(std::move(other.port_)),
      started_(std::exchange(other.started_, false)) {}

ExtraPostgres::~ExtraPostgres() {
  if (!started_) return;
  try {
    RunHarness({"stop-extra-pg", Harness().Get("HARNESS_DIR"), name_}, 60s);
  } catch (const std::exception& error) {
    std::cerr << "[cleanup] " << error.what() << "\n";
  }
}

std::string ExtraPostgres::ConnInfo(const std::string& dbname, const std::string& user) const {
  return "host=127.0.0.1 port=" + port_ + " dbname=" + dbname + " user=" + user;
}

HarnessEnv ExtraPostgres::AsHarness() const {
  HarnessEnv env = Harness();
  env.pg_host = "127.0.0.1";
  env.pg_port = port_;
  env.pg_user = "postgres";
  env.pg_database = "postgres";
  return env;
}

void ExtraPostgres::Crash() { RunHarness({"crash-extra-pg", Harness().Get("HARNESS_DIR"), name_}, 60s); }

void ExtraPostgres::Promote() { RunHarness({"promote-extra-pg", Harness().Get("HARNESS_DIR"), name_}, 120s); }

void ExtraPostgres::RunHarness(const std::vector<std::string>& args, std::chrono::seconds timeout) const {
  RunScript(SourceDir() + "/tests/harness/harness.sh", args, log_dir_, timeout);
}

}  // namespace outbox_relay::it
