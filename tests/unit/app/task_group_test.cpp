// The task group on a real io_context: completion, stop callbacks, failures reported with the
// task's name, and waits that name what did not finish before their deadline.

#include "relay/app/task_group.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"

namespace outbox_relay::app {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

// Far enough that a test only passes when something else than the deadline ended the wait.
constexpr auto kNever = 1h;
// How long a test lets the io_context run before it counts as hung.
constexpr auto kWaitHang = 10s;

// A task that runs until its timer is cancelled (its stop callback does that).
boost::asio::awaitable<void> UntilCancelled(boost::asio::steady_timer& timer) {
  timer.expires_after(kNever);
  boost::system::error_code ignored;
  co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
}

boost::asio::awaitable<void> Immediately() { co_return; }

boost::asio::awaitable<void> Throws(std::string what) {
  throw std::runtime_error(what);
  co_return;
}

class TaskGroupTest : public ::testing::Test {
 protected:
  void SetUp() override { base::SetLogSinkForTest(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_)); }
  void TearDown() override { base::SetLogSinkForTest(nullptr); }

  // Runs `wait` to its end; nullopt when it did not end within kWaitHang (the test fails then).
  template <typename T>
  std::optional<T> RunToEnd(boost::asio::awaitable<T> wait) {
    std::optional<T> result;
    boost::asio::co_spawn(io_, std::move(wait), [&](const std::exception_ptr& failure, T value) {
      if (!failure) result = std::move(value);
    });
    const auto deadline = Clock::now() + kWaitHang;
    while (!result && Clock::now() < deadline && !io_.stopped()) io_.run_one_for(100ms);
    return result;
  }

  boost::asio::io_context io_;
  std::ostringstream log_;
};

// Every task runs, and the group records each one's end.
TEST_F(TaskGroupTest, RecordsTheEndOfEveryTask) {
  TaskGroup tasks(io_, "test");
  boost::asio::steady_timer timer(io_);
  tasks.Spawn("quick", Immediately(), nullptr);
  tasks.Spawn("slow", UntilCancelled(timer), [&] { timer.cancel(); });
  EXPECT_THAT(tasks.Running(), ElementsAre("quick", "slow"));

  io_.poll();
  EXPECT_TRUE(tasks.Finished("quick"));
  EXPECT_FALSE(tasks.Finished("slow"));
  EXPECT_THAT(tasks.Running(), ElementsAre("slow"));
  timer.cancel();
  io_.poll();
  EXPECT_TRUE(tasks.Finished("slow"));
  EXPECT_THAT(tasks.Running(), IsEmpty());
}

// StopAll calls every running task's stop callback once, however often it is called.
TEST_F(TaskGroupTest, StopAllCallsEachStopCallbackOnce) {
  TaskGroup tasks(io_, "test");
  boost::asio::steady_timer first(io_);
  boost::asio::steady_timer second(io_);
  int first_stops = 0;
  int second_stops = 0;
  tasks.Spawn("first", UntilCancelled(first), [&] {
    ++first_stops;
    first.cancel();
  });
  tasks.Spawn("second", UntilCancelled(second), [&] {
    ++second_stops;
    second.cancel();
  });
  io_.poll();

  tasks.StopAll();
  tasks.StopAll();
  const auto unfinished = RunToEnd(tasks.Wait(Clock::now() + kNever));
  ASSERT_TRUE(unfinished.has_value()) << "Wait did not end when every task had finished";
  EXPECT_THAT(*unfinished, IsEmpty());
  EXPECT_EQ(first_stops, 1);
  EXPECT_EQ(second_stops, 1);
  // A finished task is not asked again.
  tasks.StopAll();
  EXPECT_FALSE(tasks.Stop("first"));
  EXPECT_EQ(first_stops, 1);
}

// Stop(name) asks only that task; the others keep running.
TEST_F(TaskGroupTest, StopByNameStopsOnlyThatTask) {
  TaskGroup tasks(io_, "test");
  boost::asio::steady_timer relay(io_);
  boost::asio::steady_timer monitor(io_);
  bool monitor_asked = false;
  tasks.Spawn("relay", UntilCancelled(relay), [&] { relay.cancel(); });
  tasks.Spawn("monitor", UntilCancelled(monitor), [&] {
    monitor_asked = true;
    monitor.cancel();
  });
  io_.poll();

  EXPECT_TRUE(tasks.Stop("relay"));
  EXPECT_FALSE(tasks.Stop("no such task"));
  const auto finished = RunToEnd(tasks.Wait("relay", Clock::now() + kNever));
  ASSERT_TRUE(finished.has_value()) << "Wait(relay) did not end when the relay had finished";
  EXPECT_TRUE(*finished);
  EXPECT_FALSE(monitor_asked);
  EXPECT_THAT(tasks.Running(), ElementsAre("monitor"));
}

// An exception ends only its task: it is logged with the task's name and reported once to the
// failure handler, and the other tasks keep running.
TEST_F(TaskGroupTest, ExceptionIsLoggedWithTheTaskNameAndReported) {
  TaskGroup tasks(io_, "test");
  std::vector<std::pair<std::string, std::string>> failures;
  tasks.OnFailure([&](const std::string& task, const std::string& error) { failures.emplace_back(task, error); });
  boost::asio::steady_timer timer(io_);
  tasks.Spawn("survivor", UntilCancelled(timer), [&] { timer.cancel(); });
  tasks.Spawn("poller", Throws("disk on fire"), nullptr);
  io_.poll();

  EXPECT_THAT(failures, ElementsAre(std::make_pair(std::string("poller"), std::string("disk on fire"))));
  EXPECT_TRUE(tasks.Finished("poller"));
  EXPECT_THAT(tasks.Running(), ElementsAre("survivor"));
  EXPECT_THAT(log_.str(), HasSubstr("task poller failed: disk on fire"));
  EXPECT_THAT(log_.str(), HasSubstr("[test]"));
}

// Wait returns at its deadline with the names of the tasks that ignored their stop callback.
TEST_F(TaskGroupTest, WaitNamesTheTasksThatDidNotFinishInTime) {
  TaskGroup tasks(io_, "test");
  boost::asio::steady_timer cooperative(io_);
  boost::asio::steady_timer stubborn(io_);
  tasks.Spawn("cooperative", UntilCancelled(cooperative), [&] { cooperative.cancel(); });
  tasks.Spawn("stubborn", UntilCancelled(stubborn), [] {});
  io_.poll();

  tasks.StopAll();
  const auto start = Clock::now();
  const auto unfinished = RunToEnd(tasks.Wait(start + 20ms));
  ASSERT_TRUE(unfinished.has_value()) << "Wait did not end at its deadline";
  EXPECT_THAT(*unfinished, ElementsAre("stubborn"));
  EXPECT_GE(Clock::now() - start, 20ms) << "Wait returned before its deadline";
  const auto stubborn_finished = RunToEnd(tasks.Wait("stubborn", Clock::now() + 1ms));
  ASSERT_TRUE(stubborn_finished.has_value());
  EXPECT_FALSE(*stubborn_finished);
  stubborn.cancel();  // the io_context must not keep the task beyond the test
  io_.poll();
}

// Two waiters with different deadlines do not disturb each other: each ends at its own.
TEST_F(TaskGroupTest, ConcurrentWaitersKeepTheirOwnDeadlines) {
  TaskGroup tasks(io_, "test");
  boost::asio::steady_timer timer(io_);
  tasks.Spawn("slow", UntilCancelled(timer), [&] { timer.cancel(); });
  std::optional<std::vector<std::string>> short_wait;
  std::optional<std::vector<std::string>> long_wait;
  boost::asio::co_spawn(
      io_, tasks.Wait(Clock::now() + 10ms),
      [&](const std::exception_ptr&, std::vector<std::string> names) { short_wait = std::move(names); });
  boost::asio::co_spawn(
      io_, tasks.Wait(Clock::now() + kNever),
      [&](const std::exception_ptr&, std::vector<std::string> names) { long_wait = std::move(names); });
  const auto deadline = Clock::now() + kWaitHang;
  while (!short_wait && Clock::now() < deadline) io_.run_one_for(100ms);
  ASSERT_TRUE(short_wait.has_value()) << "the short wait did not end at its deadline";
  EXPECT_THAT(*short_wait, ElementsAre("slow"));
  EXPECT_FALSE(long_wait.has_value()) << "the long wait ended before the task";

  tasks.StopAll();
  while (!long_wait && Clock::now() < deadline) io_.run_one_for(100ms);
  ASSERT_TRUE(long_wait.has_value()) << "the long wait did not end when the task finished";
  EXPECT_THAT(*long_wait, IsEmpty());
}

// A task spawned while the group is stopping is asked to stop once it has started (a callback
// run before the task's first step would cancel a timer not yet set).
TEST_F(TaskGroupTest, TaskSpawnedAfterStopAllIsAskedToStopOnceStarted) {
  TaskGroup tasks(io_, "test");
  tasks.StopAll();
  boost::asio::steady_timer timer(io_);
  bool asked = false;
  tasks.Spawn("late", UntilCancelled(timer), [&] {
    asked = true;
    timer.cancel();
  });
  EXPECT_FALSE(asked) << "asked before the task started";
  const auto unfinished = RunToEnd(tasks.Wait(Clock::now() + kNever));
  ASSERT_TRUE(unfinished.has_value()) << "the late task was not stopped";
  EXPECT_THAT(*unfinished, IsEmpty());
  EXPECT_TRUE(asked);
}

// A stop callback that throws is logged with its task's name and does not keep the others
// from being asked.
TEST_F(TaskGroupTest, ThrowingStopCallbackDoesNotSkipTheOthers) {
  TaskGroup tasks(io_, "test");
  boost::asio::steady_timer first(io_);
  boost::asio::steady_timer second(io_);
  tasks.Spawn("first", UntilCancelled(first), [&] {
    first.cancel();
    throw std::runtime_error("already closed");
  });
  tasks.Spawn("second", UntilCancelled(second), [&] { second.cancel(); });
  io_.poll();

  tasks.StopAll();
  const auto unfinished = RunToEnd(tasks.Wait(Clock::now() + kNever));
  ASSERT_TRUE(unfinished.has_value());
  EXPECT_THAT(*unfinished, IsEmpty());
  EXPECT_THAT(log_.str(), HasSubstr("task first: stopping it failed: already closed"));
}

// Names identify tasks, so a second task of the same name is refused.
TEST_F(TaskGroupTest, DuplicateNameIsRefused) {
  TaskGroup tasks(io_, "test");
  tasks.Spawn("http", Immediately(), nullptr);
  EXPECT_THROW(tasks.Spawn("http", Immediately(), nullptr), std::invalid_argument);
  io_.poll();
}

}  // namespace
}  // namespace outbox_relay::app
