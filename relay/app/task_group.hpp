#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace outbox_relay::app {

/// The long-running coroutines of a process (the relay, the slot monitor, the HTTP server), each
/// under a name, with the one way to ask it to finish. Boost 1.74 has no cancellation slots, so
/// every task comes with a `stop` callback (cancel a timer, close an acceptor, set a flag) and
/// finishes on its own after it.
///
/// A task that ends with an exception is logged with its name (logger `component`) and reported
/// to the failure handler; the other tasks keep running, so the owner decides how to stop.
///
/// Single-threaded: every member is called from the thread running the io_context, and stop
/// callbacks and the failure handler run there. Destroy the group only once the io_context no
/// longer runs its tasks (stopped, or ran out of work).
class TaskGroup {
 public:
  using Clock = std::chrono::steady_clock;
  using StopCallback = std::function<void()>;
  /// Called once per failed task with its name and the exception's message.
  using FailureHandler = std::function<void(const std::string& task, const std::string& error)>;

  TaskGroup(boost::asio::io_context& io, std::string component);
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  /// Replaces the failure handler (none at first: failures are only logged).
  void OnFailure(FailureHandler handler);

  /// Starts `task` on the io_context under `name`; `stop` asks it to finish and must not block.
  /// After StopAll() a new task is asked to stop as soon as it has started. Throws std::invalid_argument when a
  /// task of that name was spawned before: names identify tasks in logs, Stop() and Wait().
  void Spawn(std::string name, boost::asio::awaitable<void> task, StopCallback stop);

  /// Calls the stop callback of the task `name` unless it finished or was asked before; false
  /// when there is no such running task. A callback that throws is logged and counts as asked.
  bool Stop(const std::string& name);

  /// Calls the stop callback of every running task not asked before, in spawn order.
  void StopAll();

  /// True once the task `name` ended, normally or with an exception.
  bool Finished(const std::string& name) const;

  /// The names of the tasks still running, in spawn order.
  std::vector<std::string> Running() const;

  /// Waits until every task has finished or `deadline` passed; returns the names of those still
  /// running (empty: all finished). Asks nothing to stop; call StopAll() first for that.
  boost::asio::awaitable<std::vector<std::string>> Wait(Clock::time_point deadline);

  /// Waits until the task `name` has finished or `deadline` passed; true when it finished (or
  /// there is no such task).
  boost::asio::awaitable<bool> Wait(const std::string& name, Clock::time_point deadline);

 private:
  struct Task;
  struct State;

  // Returns once any task finishes or `deadline` passes, whichever comes first.
  boost::asio::awaitable<void> WaitForAnyEnd(Clock::time_point deadline);
  static void AskToStop(State& state, Task& task);

  boost::asio::io_context& io_;
  // Shared with the completion handlers of the spawned tasks, which may outlive a misused group.
  std::shared_ptr<State> state_;
};

}  // namespace outbox_relay::app
