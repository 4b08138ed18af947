#pragma once

// Runs the outbox-relay binary as a child process: stdout and stderr appended to files,
// stdin from /dev/null, signals and waits by pid. The destructor SIGKILLs and reaps a child
// that is still running, so a failing test never leaves a relay behind.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace outbox_relay::it {

struct ExitStatus {
  bool exited = false;  // normal exit (code valid); otherwise killed by `signal`
  int code = 0;
  int signal = 0;
  std::string Describe() const;
};

class RelayProcess {
 public:
  RelayProcess(std::string binary, std::vector<std::string> args, std::string stdout_path,
               std::string stderr_path);
  ~RelayProcess();
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  /// Spawns the child (posix_spawn). Throws on failure or if already running. The child's
  /// environment is ours without OUTBOX_RELAY_* variables (they would be config overrides),
  /// plus what SetEnvironment() added.
  void Start();
  /// Variables (e.g. OUTBOX_RELAY_* overrides) added to the child's environment at every Start().
  void SetEnvironment(std::map<std::string, std::string> variables) { environment_ = std::move(variables); }
  pid_t Pid() const { return pid_; }
  /// True while the child has not been reaped (polls waitpid WNOHANG).
  bool Running();
  /// Sends `signal` to the child's pid if it is running (sampling its peak RSS first).
  void Signal(int signal);
  /// Waits up to `timeout` for the child to exit; nullopt if it is still running.
  std::optional<ExitStatus> WaitFor(std::chrono::milliseconds timeout);
  /// SIGKILL and reap (bounded), sampling its peak RSS first; returns how it ended.
  ExitStatus Kill();
  /// Reads the running child's peak resident set (VmHWM) into PeakRssKib(). Kill() and
  /// Signal() call it, so a run's whole life is covered when it ends by either.
  void SamplePeakRss();
  /// The highest peak resident set (KiB) sampled from any run of this process so far.
  long PeakRssKib() const { return peak_rss_kib_; }
  /// The status of the last reaped child, if any.
  const std::optional<ExitStatus>& LastExit() const { return last_exit_; }

  const std::string& StdoutPath() const { return stdout_path_; }
  const std::string& StderrPath() const { return stderr_path_; }
  /// The last `lines` lines of the stderr file.
  std::string StderrTail(std::size_t lines) const;
  std::string CommandLine() const;

 private:
  bool Reap(bool block);

  std::string binary_;
  std::vector<std::string> args_;
  std::string stdout_path_;
  std::string stderr_path_;
  std::map<std::string, std::string> environment_;
  pid_t pid_ = -1;
  int starts_ = 0;
  long peak_rss_kib_ = 0;
  std::optional<ExitStatus> last_exit_;
};

/// The last `lines` lines of a text file ("" if unreadable).
std::string TailFile(const std::string& path, std::size_t lines);
/// The whole file ("" if unreadable).
std::string ReadFile(const std::string& path);
/// Appends `text` to a file (creating it).
void AppendFile(const std::string& path, const std::string& text);

}  // namespace outbox_relay::it
