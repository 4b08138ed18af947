#include "support/relay_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace outbox_relay::it {

std::string ExitStatus::Describe() const {
  if (exited) return "exit code " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string TailFile(const std::string& path, std::size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += l + "\n";
  return out;
}

void AppendFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

RelayProcess::RelayProcess(std::string binary, std::vector<std::string> args, std::string stdout_path,
                           std::string stderr_path)
    : binary_(std::move(binary)),
      args_(std::move(args)),
      stdout_path_(std::move(stdout_path)),
      stderr_path_(std::move(stderr_path)) {}

RelayProcess::~RelayProcess() {
  if (pid_ > 0) {
    try {
      Kill();
    } catch (...) {
    }
  }
}

std::string RelayProcess::CommandLine() const {
  std::string line = binary_;
  for (const auto& arg : args_) line += " " + arg;
  return line;
}

void RelayProcess::Start() {
  if (pid_ > 0 && Running()) throw std::runtime_error("relay already running");
  ++starts_;
  AppendFile(stderr_path_, "===== test harness: start #" + std::to_string(starts_) + ": " + CommandLine() + "\n");

  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "OUTBOX_RELAY_", 13) == 0) continue;
    env_storage.emplace_back(*e);
  }
  for (const auto& [name, value] : environment_) env_storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_storage;
  argv_storage.push_back(binary_);
  argv_storage.insert(argv_storage.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, stdout_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Default signal dispositions and an empty mask in the child, whatever gtest set up.
  sigset_t all;
  sigfillset(&all);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, binary_.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw std::runtime_error("posix_spawn " + binary_ + ": " + std::strerror(rc));
  }
  pid_ = pid;
  last_exit_.reset();
}

bool RelayProcess::Reap(bool block) {
  if (pid_ <= 0) return true;
  int status = 0;
  pid_t rc;
  do {
    rc = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return false;
  if (rc < 0) {
    // Not our child any more (should not happen); treat as gone.
    pid_ = -1;
    return true;
  }
  ExitStatus exit;
  if (WIFEXITED(status)) {
    exit.exited = true;
    exit.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit.signal = WTERMSIG(status);
  }
  last_exit_ = exit;
  AppendFile(stderr_path_,
             "===== test harness: relay pid " + std::to_string(pid_) + " ended: " + exit.Describe() + "\n");
  pid_ = -1;
  return true;
}

bool RelayProcess::Running() { return pid_ > 0 && !Reap(false); }

void RelayProcess::Signal(int signal) {
  if (!Running()) return;
  SamplePeakRss();
  ::kill(pid_, signal);
}

void RelayProcess::SamplePeakRss() {
  if (!Running()) return;
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      peak_rss_kib_ = std::max(peak_rss_kib_, std::stol(line.substr(6)));
      return;
    }
  }
}

std::optional<ExitStatus> RelayProcess::WaitFor(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (!Running()) return last_exit_;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ExitStatus RelayProcess::Kill() {
  if (Running()) {
    SamplePeakRss();
    ::kill(pid_, SIGKILL);
    if (!WaitFor(std::chrono::seconds(30))) {
      throw std::runtime_error("relay pid " + std::to_string(pid_) + " survived SIGKILL for 30 s");
    }
  }
  return last_exit_.value_or(ExitStatus{});
}

std::string RelayProcess::StderrTail(std::size_t lines) const { return TailFile(stderr_path_, lines); }

}  // namespace outbox_relay::it
