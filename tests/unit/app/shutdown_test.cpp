// The shutdown's steps over a task group of stand-ins for the relay, the slot monitor and the
// HTTP server, on a real io_context: their order, their deadlines and their log lines.

#include "relay/app/shutdown.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"
#include "relay/app/task_group.hpp"

namespace outbox_relay::app {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr auto kHang = 10s;  // an io_context still running after this counts as hung

// A stand-in for a long-running task: runs until its timer is cancelled, then takes `wind_down`
// more io_context turns (the relay's drain and final status) and records its end in `events`.
class FakeTask {
 public:
  FakeTask(boost::asio::io_context& io, std::string name, std::vector<std::string>& events, int wind_down = 0)
      : timer_(io), name_(std::move(name)), events_(events), wind_down_(wind_down) {}

  boost::asio::awaitable<void> Run() {
    timer_.expires_after(1h);
    boost::system::error_code ignored;
    co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    for (int turn = 0; turn < wind_down_; ++turn) {
      timer_.expires_after(0ms);
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }
    events_.push_back(name_ + " ended");
  }
  void Stop() {
    events_.push_back(name_ + " stop");
    timer_.cancel();
  }
  // A task that ignores its stop callback (a statement that hangs).
  void IgnoreStop() { events_.push_back(name_ + " stop ignored"); }
  void End() { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
  std::string name_;
  std::vector<std::string>& events_;
  int wind_down_;
};

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base::SetLogSinkForTest(std::make_shared<spdlog::sinks::ostream_sink_mt>(log_));
    plan_.drain_timeout = 1h;
    plan_.final_status_grace = 0ms;
    plan_.tasks_timeout = 1h;
    plan_.close_postgres = [this] { events_.push_back("close postgres"); };
  }
  void TearDown() override { base::SetLogSinkForTest(nullptr); }

  // Runs the shutdown to its end; nullopt when it did not end within kHang.
  std::optional<ShutdownReport> RunShutdown(const std::string& reason = "SIGTERM") {
    std::optional<ShutdownReport> report;
    boost::asio::co_spawn(io_, Shutdown(tasks_, plan_, reason),
                          [&](const std::exception_ptr& failure, ShutdownReport result) {
                            if (!failure) report = std::move(result);
                          });
    const auto deadline = Clock::now() + kHang;
    while (!report && Clock::now() < deadline) io_.run_one_for(100ms);
    return report;
  }

  boost::asio::io_context io_;
  TaskGroup tasks_{io_, "test"};
  std::vector<std::string> events_;
  std::ostringstream log_;
  ShutdownPlan plan_;
};

// The relay is stopped first and waited for (its drain and final status), and only then are the
// monitor and the HTTP server stopped, PostgreSQL closed last; each step logs its start.
TEST_F(ShutdownTest, StopsTheRelayFirstAndClosesPostgresLast) {
  FakeTask relay(io_, "relay", events_, /*wind_down=*/3);
  FakeTask monitor(io_, "slot-monitor", events_);
  FakeTask http(io_, "http", events_);
  tasks_.Spawn("relay", relay.Run(), [&] { relay.Stop(); });
  tasks_.Spawn("slot-monitor", monitor.Run(), [&] { monitor.Stop(); });
  tasks_.Spawn("http", http.Run(), [&] { http.Stop(); });
  io_.poll();

  const auto report = RunShutdown();
  ASSERT_TRUE(report.has_value()) << "the shutdown did not end\n" << log_.str();
  EXPECT_TRUE(report->relay_finished);
  EXPECT_THAT(report->unfinished, IsEmpty());
  EXPECT_THAT(events_, ElementsAre("relay stop", "relay ended", "slot-monitor stop", "http stop",
                                   "slot-monitor ended", "http ended", "close postgres"));
  const std::string log = log_.str();
  EXPECT_THAT(log, HasSubstr("shutting down (SIGTERM)"));
  for (const char* line :
       {"shutdown step 1/4, stop reading WAL", "shutdown step 2/4, drain and final standby status",
        "shutdown step 3/4, stop the other tasks: slot-monitor, http", "shutdown step 4/4, close PostgreSQL",
        "shutdown finished in"}) {
    EXPECT_THAT(log, HasSubstr(line));
  }
  // The SIGTERM test reads the LSN after the last "confirmed " of the log: the relay's own line.
  EXPECT_THAT(log, Not(HasSubstr("confirmed ")));
}

// A relay that does not end within 2 × drain_timeout + final_status_grace is reported, and the
// other tasks are still stopped and PostgreSQL closed, so the process exits in bounded time.
TEST_F(ShutdownTest, RelayThatDoesNotEndInTimeIsReportedAndTheRestStillStops) {
  plan_.drain_timeout = 5ms;
  plan_.final_status_grace = 5ms;
  FakeTask relay(io_, "relay", events_);
  FakeTask monitor(io_, "slot-monitor", events_);
  tasks_.Spawn("relay", relay.Run(), [&] { relay.IgnoreStop(); });
  tasks_.Spawn("slot-monitor", monitor.Run(), [&] { monitor.Stop(); });
  io_.poll();

  const auto start = Clock::now();
  const auto report = RunShutdown();
  ASSERT_TRUE(report.has_value()) << "the shutdown did not end\n" << log_.str();
  EXPECT_GE(Clock::now() - start, 15ms) << "step 2 did not wait for its deadline";
  EXPECT_FALSE(report->relay_finished);
  EXPECT_THAT(report->unfinished, ElementsAre("relay"));
  EXPECT_THAT(events_,
              ElementsAre("relay stop ignored", "slot-monitor stop", "slot-monitor ended", "close postgres"));
  EXPECT_THAT(log_.str(),
              HasSubstr("shutdown step 2/4, drain and final standby status: task relay did not finish"));
  EXPECT_THAT(log_.str(), HasSubstr("tasks left unfinished: relay"));
  relay.End();
  io_.poll();
}

// A side task that ignores its stop is named when tasks_timeout passes, and PostgreSQL is closed
// after it (what ends a statement that hangs).
TEST_F(ShutdownTest, SideTaskThatDoesNotStopIsNamedAndPostgresClosedAfter) {
  plan_.tasks_timeout = 10ms;
  FakeTask relay(io_, "relay", events_);
  FakeTask monitor(io_, "slot-monitor", events_);
  FakeTask http(io_, "http", events_);
  tasks_.Spawn("relay", relay.Run(), [&] { relay.Stop(); });
  tasks_.Spawn("slot-monitor", monitor.Run(), [&] { monitor.IgnoreStop(); });
  tasks_.Spawn("http", http.Run(), [&] { http.Stop(); });
  io_.poll();

  const auto report = RunShutdown();
  ASSERT_TRUE(report.has_value()) << "the shutdown did not end\n" << log_.str();
  EXPECT_TRUE(report->relay_finished);
  EXPECT_THAT(report->unfinished, ElementsAre("slot-monitor"));
  EXPECT_EQ(events_.back(), "close postgres");
  EXPECT_THAT(log_.str(), HasSubstr("shutdown step 3/4, stop the other tasks: did not finish: slot-monitor"));
  monitor.End();
  io_.poll();
}

// After the relay ended on its own (a fatal error), step 1 has nothing to stop and the others
// are still stopped.
TEST_F(ShutdownTest, RelayThatEndedOnItsOwnIsNotAskedToStop) {
  FakeTask relay(io_, "relay", events_);
  FakeTask http(io_, "http", events_);
  tasks_.Spawn("relay", relay.Run(), [&] { relay.Stop(); });
  tasks_.Spawn("http", http.Run(), [&] { http.Stop(); });
  io_.poll();
  relay.End();
  io_.poll();
  ASSERT_TRUE(tasks_.Finished("relay"));

  const auto report = RunShutdown("the relay stopped with exit code 1");
  ASSERT_TRUE(report.has_value()) << "the shutdown did not end\n" << log_.str();
  EXPECT_TRUE(report->relay_finished);
  EXPECT_THAT(events_, ElementsAre("relay ended", "http stop", "http ended", "close postgres"));
  EXPECT_THAT(log_.str(), HasSubstr("shutdown step 1/4, stop reading WAL: task relay has ended already"));
}

}  // namespace
}  // namespace outbox_relay::app
