#include "relay/app/task_group.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"

namespace outbox_relay::app {

namespace {

std::string Describe(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace

struct TaskGroup::Task {
  std::string name;
  StopCallback stop;
  bool stop_asked = false;
  bool finished = false;
};

struct TaskGroup::State {
  std::string component;
  FailureHandler on_failure;
  std::vector<std::shared_ptr<Task>> tasks;  // spawn order
  // The timers of the coroutines in Wait(); each task's end cancels them so they look again.
  std::vector<boost::asio::steady_timer*> waiters;
  bool stopping = false;  // StopAll() was called
};

TaskGroup::TaskGroup(boost::asio::io_context& io, std::string component)
    : io_(io), state_(std::make_shared<State>()) {
  state_->component = std::move(component);
}

TaskGroup::~TaskGroup() {
  // A handler that still runs (the io_context outlived the group) must not call back into the
  // owner, which is going away with the group.
  state_->on_failure = nullptr;
  state_->waiters.clear();
}

void TaskGroup::OnFailure(FailureHandler handler) { state_->on_failure = std::move(handler); }

void TaskGroup::Spawn(std::string name, boost::asio::awaitable<void> task, StopCallback stop) {
  for (const auto& existing : state_->tasks) {
    if (existing->name == name)
      throw std::invalid_argument("task group: a task named " + name + " exists already");
  }
  auto entry = std::make_shared<Task>();
  entry->name = std::move(name);
  entry->stop = std::move(stop);
  state_->tasks.push_back(entry);
  boost::asio::co_spawn(io_, std::move(task), [state = state_, entry](const std::exception_ptr& failure) {
    entry->finished = true;
    if (failure) {
      const std::string error = Describe(failure);
      base::Logger(state->component).error("task {} failed: {}", entry->name, error);
      if (state->on_failure) state->on_failure(entry->name, error);
    } else {
      base::Logger(state->component).debug("task {} finished", entry->name);
    }
    // Copied: a waiter that resumes may register or unregister before this loop would end.
    for (auto* timer : std::vector<boost::asio::steady_timer*>(state->waiters)) timer->cancel();
  });
  if (state_->stopping) {
    // Posted after the task's start, so the callback finds what it stops (a timer set, say).
    boost::asio::post(io_, [state = state_, entry] { AskToStop(*state, *entry); });
  }
}

void TaskGroup::AskToStop(State& state, Task& task) {
  if (task.finished || task.stop_asked) return;
  task.stop_asked = true;
  if (!task.stop) return;
  try {
    task.stop();
  } catch (const std::exception& error) {
    base::Logger(state.component).error("task {}: stopping it failed: {}", task.name, error.what());
  }
}

bool TaskGroup::Stop(const std::string& name) {
  for (const auto& task : state_->tasks) {
    if (task->name != name) continue;
    if (task->finished) return false;
    AskToStop(*state_, *task);
    return true;
  }
  return false;
}

void TaskGroup::StopAll() {
  state_->stopping = true;
  // Copied: a stop callback may spawn a task.
  for (const auto& task : std::vector<std::shared_ptr<Task>>(state_->tasks)) AskToStop(*state_, *task);
}

bool TaskGroup::Finished(const std::string& name) const {
  return std::any_of(state_->tasks.begin(), state_->tasks.end(),
                     [&](const auto& task) { return task->name == name && task->finished; });
}

std::vector<std::string> TaskGroup::Running() const {
  std::vector<std::string> running;
  for (const auto& task : state_->tasks) {
    if (!task->finished) running.push_back(task->name);
  }
  return running;
}

boost::asio::awaitable<void> TaskGroup::WaitForAnyEnd(Clock::time_point deadline) {
  // A timer per waiter: two waiters sharing one would cancel each other's deadline.
  boost::asio::steady_timer timer(io_);
  timer.expires_at(deadline);
  const std::shared_ptr<State> state = state_;
  state->waiters.push_back(&timer);
  struct Unregister {
    State& state;
    boost::asio::steady_timer* timer;
    ~Unregister() { std::erase(state.waiters, timer); }
  } unregister{*state, &timer};
  boost::system::error_code ignored;  // cancelled: a task ended
  co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
}

boost::asio::awaitable<std::vector<std::string>> TaskGroup::Wait(Clock::time_point deadline) {
  for (auto running = Running(); !running.empty(); running = Running()) {
    if (Clock::now() >= deadline) co_return running;
    co_await WaitForAnyEnd(deadline);
  }
  co_return std::vector<std::string>{};
}

boost::asio::awaitable<bool> TaskGroup::Wait(const std::string& name, Clock::time_point deadline) {
  const auto running = [&] {
    return std::any_of(state_->tasks.begin(), state_->tasks.end(),
                       [&](const auto& task) { return task->name == name && !task->finished; });
  };
  while (running()) {
    if (Clock::now() >= deadline) co_return false;
    co_await WaitForAnyEnd(deadline);
  }
  co_return true;
}

}  // namespace outbox_relay::app
