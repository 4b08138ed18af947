#include "support/extra_postgres.hpp"

#include <iostream>
#include <stdexcept>
#include <utility>

namespace outbox_relay::it {

using namespace std::chrono_literals;

ExtraPostgres::ExtraPostgres(std::string name, std::string log_dir, const std::string& start_command,
                             std::vector<std::string> start_args)
    : name_(std::move(name)), log_dir_(std::move(log_dir)) {
  start_args.insert(start_args.begin(), name_);
  RunHarnessCommand(start_command, log_dir_, 120s, start_args);
  started_ = true;
  port_ = ReadEnvFile(Harness().Get("HARNESS_DIR") + "/" + name_ + ".env").at("PGPORT");
}

ExtraPostgres::ExtraPostgres(std::string name, const std::vector<std::string>& settings, std::string log_dir)
    : ExtraPostgres(std::move(name), std::move(log_dir), "start-extra-pg", settings) {}

ExtraPostgres ExtraPostgres::StandbyOf(const ExtraPostgres& primary, std::string name, std::string log_dir,
                                       const std::string& port) {
  std::vector<std::string> args{primary.name_};
  if (!port.empty()) args.push_back(port);
  return ExtraPostgres(std::move(name), std::move(log_dir), "start-extra-standby", std::move(args));
}

ExtraPostgres::ExtraPostgres(ExtraPostgres&& other) noexcept
    : name_(std::move(other.name_)),
      log_dir_(std::move(other.log_dir_)),
      port_(std::move(other.port_)),
      started_(std::exchange(other.started_, false)) {}

ExtraPostgres::~ExtraPostgres() {
  if (!started_) return;
  try {
    RunHarnessCommand("stop-extra-pg", log_dir_, 60s, {name_});
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

void ExtraPostgres::Crash() { RunHarnessCommand("crash-extra-pg", log_dir_, 60s, {name_}); }

void ExtraPostgres::Promote() { RunHarnessCommand("promote-extra-pg", log_dir_, 120s, {name_}); }

}  // namespace outbox_relay::it
