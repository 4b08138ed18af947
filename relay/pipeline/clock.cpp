#include "relay/pipeline/clock.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace outbox_relay::pipeline {

namespace {

class SteadyTimer final : public Timer {
 public:
  explicit SteadyTimer(boost::asio::io_context& io) : timer_(io) {}

  boost::asio::awaitable<bool> WaitUntil(std::chrono::steady_clock::time_point deadline) override {
    timer_.expires_at(deadline);
    boost::system::error_code error;  // operation_aborted: Cancel() is the wake-up signal
    co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, error));
    // Only the local is read after resuming: the timer may be gone by then.
    co_return !error;
  }

  void Cancel() override { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace

std::unique_ptr<Timer> SteadyClock::MakeTimer() { return std::make_unique<SteadyTimer>(io_); }

}  // namespace outbox_relay::pipeline
