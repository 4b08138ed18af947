#pragma once

#include <chrono>
#include <memory>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace outbox_relay::pipeline {

/// A wait the relay can end early: the waiter re-checks its condition after every wake-up.
/// One waiter at a time. Used from the io_context thread only.
class Timer {
 public:
  virtual ~Timer() = default;

  /// Suspends until `deadline` passes (true) or Cancel() is called (false). A deadline already
  /// past returns true at once.
  virtual boost::asio::awaitable<bool> WaitUntil(std::chrono::steady_clock::time_point deadline) = 0;

  /// Ends the pending WaitUntil, if any, with false. A Cancel with no waiter is forgotten.
  virtual void Cancel() = 0;
};

/// Where the relay reads time and waits for it: the real clock in the process, a manual one in
/// tests (tests/fakes/manual_clock.hpp), so deadlines (status interval, batch linger, shutdown
/// timeout, readiness lag) are driven by the test, not by the machine's speed.
class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  /// Monotonic time for every deadline and age.
  virtual TimePoint Now() const = 0;
  /// Calendar time, to compare with the server's commit timestamps (lag).
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
  /// A timer on this clock.
  virtual std::unique_ptr<Timer> MakeTimer() = 0;
};

/// std::chrono's clocks and Boost.Asio timers on `io`.
class SteadyClock final : public Clock {
 public:
  explicit SteadyClock(boost::asio::io_context& io) : io_(io) {}

  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override { return std::chrono::system_clock::now(); }
  std::unique_ptr<Timer> MakeTimer() override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace outbox_relay::pipeline
