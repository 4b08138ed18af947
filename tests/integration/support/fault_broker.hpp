#pragma once

// A Kafka broker of one test that the test can cut off or starve of disk
// (tests/harness/fault_broker.sh): in a network namespace of its own behind a veth pair,
// optionally with its log dir on a small tmpfs. Started by the constructor, stopped (with its
// namespace and tmpfs) by the destructor, whether the test passed or not. Needs root.

#include <chrono>
#include <string>
#include <vector>

namespace outbox_relay::it {

class FaultBroker {
 public:
  /// Starts the broker in `dir` (made by the script, removed by the destructor); with a
  /// non-empty `log_dir_size` (tmpfs size, e.g. "96m") its log dir is a tmpfs of that size;
  /// `properties` ("key=value") are added to its server.properties, overriding the harness's.
  /// The script's output goes to <log_dir>/fault_broker.sh.{stdout,stderr}. Throws
  /// std::runtime_error if the broker does not start.
  FaultBroker(std::string dir, std::string log_dir, const std::string& log_dir_size = "",
              const std::vector<std::string>& properties = {});
  ~FaultBroker();
  FaultBroker(const FaultBroker&) = delete;
  FaultBroker& operator=(const FaultBroker&) = delete;

  /// host:port on the namespace's veth address, reachable from the root namespace.
  const std::string& BootstrapServers() const { return bootstrap_servers_; }

  /// Every packet between the relay's namespace and the broker's is dropped until Heal().
  void Partition();
  void Heal();
  /// SIGTERM (SIGKILL after 30 s) and start again: same address, same log dir.
  void Restart();
  /// Fills the tmpfs log dir until the file system refuses; FreeDisk() removes the filler.
  void FillDisk();
  void FreeDisk();
  /// Whether the broker process is alive.
  bool Running();

 private:
  std::chrono::steady_clock::duration Run(const std::string& command, std::chrono::milliseconds timeout);

  std::string dir_;
  std::string log_dir_;
  std::string bootstrap_servers_;
};

}  // namespace outbox_relay::it
