#include "support/fault_broker.hpp"

#include <signal.h>

#include <iostream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "support/harness_env.hpp"
#include "support/test_fixture.hpp"

namespace outbox_relay::it {
namespace {

using namespace std::chrono_literals;

std::string Script() { return SourceDir() + "/tests/harness/fault_broker.sh"; }

}  // namespace

FaultBroker::FaultBroker(std::string dir, std::string log_dir, const std::string& log_dir_size,
                         const std::vector<std::string>& properties)
    : dir_(std::move(dir)), log_dir_(std::move(log_dir)) {
  std::vector<std::string> args = {"start", dir_};
  if (!log_dir_size.empty()) args.insert(args.end(), {"--log-dir-size", log_dir_size});
  for (const auto& property : properties) args.insert(args.end(), {"--property", property});
  const auto took = RunScript(Script(), args, log_dir_, 180s);
  bootstrap_servers_ = ReadEnvFile(dir_ + "/env").at("KAFKA_BOOTSTRAP_SERVERS");
  std::cout << "[ broker ] fault broker " << bootstrap_servers_ << " started in " << Seconds(took)
            << (log_dir_size.empty() ? "" : ", log dir on a " + log_dir_size + " tmpfs") << "\n";
}

FaultBroker::~FaultBroker() {
  try {
    Run("stop", 120s);
  } catch (const std::exception& e) {
    std::cerr << "[cleanup] " << e.what() << "\n";
  }
}

std::chrono::steady_clock::duration FaultBroker::Run(const std::string& command,
                                                     std::chrono::milliseconds timeout) {
  return RunScript(Script(), {command, dir_}, log_dir_, timeout);
}

void FaultBroker::Partition() { Run("partition", 30s); }
void FaultBroker::Heal() { Run("heal", 30s); }
void FaultBroker::Restart() { Run("restart", 180s); }
void FaultBroker::FillDisk() { Run("fill", 120s); }
void FaultBroker::FreeDisk() { Run("free", 30s); }

bool FaultBroker::Running() {
  // The script rewrites env with the pid of every broker it starts.
  const pid_t pid = std::stoi(ReadEnvFile(dir_ + "/env").at("FAULT_BROKER_PID"));
  return pid > 0 && ::kill(pid, 0) == 0;
}

}  // namespace outbox_relay::it
