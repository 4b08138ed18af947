#include "tests/fakes/manual_clock.hpp"

#include <algorithm>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace outbox_relay::fakes {

// One pending wait: a real timer that never expires by itself, cancelled to wake its waiter.
struct ManualClock::Waiter {
  Waiter(const boost::asio::any_io_executor& executor, TimePoint until)
      : timer(executor, std::chrono::steady_clock::time_point::max()), deadline(until) {}
  boost::asio::steady_timer timer;
  TimePoint deadline;
  bool due = false;
};

class ManualTimer final : public pipeline::Timer {
 public:
  explicit ManualTimer(ManualClock& clock) : clock_(clock) {}

  boost::asio::awaitable<bool> WaitUntil(std::chrono::steady_clock::time_point deadline) override {
    if (deadline <= clock_.Now()) co_return true;
    auto waiter = std::make_shared<ManualClock::Waiter>(co_await boost::asio::this_coro::executor, deadline);
    current_ = waiter;
    clock_.Register(waiter);
    boost::system::error_code ignored;  // every wake-up is a cancellation; `due` says which
    co_await waiter->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    co_return waiter->due;
  }

  void Cancel() override {
    if (const auto waiter = current_.lock()) waiter->timer.cancel();
  }

 private:
  ManualClock& clock_;
  std::weak_ptr<ManualClock::Waiter> current_;
};

ManualClock::ManualClock()
    // Far from the epoch, so that a deadline computed backwards stays valid; the wall clock at
    // 2024-01-01 00:00:00 UTC.
    : now_(std::chrono::steady_clock::time_point(std::chrono::hours(24 * 365))),
      wall_(std::chrono::sys_days(std::chrono::year(2024) / 1 / 1)) {}

ManualClock::~ManualClock() = default;

std::unique_ptr<pipeline::Timer> ManualClock::MakeTimer() { return std::make_unique<ManualTimer>(*this); }

void ManualClock::Register(const std::shared_ptr<Waiter>& waiter) {
  std::erase_if(waiters_, [](const std::weak_ptr<Waiter>& entry) { return entry.expired(); });
  waiters_.push_back(waiter);
}

void ManualClock::Advance(std::chrono::steady_clock::duration by) {
  now_ += by;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
  for (const auto& entry : waiters_) {
    const auto waiter = entry.lock();
    if (!waiter || waiter->due || waiter->deadline > now_) continue;
    waiter->due = true;
    waiter->timer.cancel();
  }
}

std::optional<ManualClock::TimePoint> ManualClock::NextDeadline() const {
  std::optional<TimePoint> next;
  for (const auto& entry : waiters_) {
    const auto waiter = entry.lock();
    if (!waiter || waiter->due || waiter->deadline == TimePoint::max()) continue;
    if (!next || waiter->deadline < *next) next = waiter->deadline;
  }
  return next;
}

std::size_t ManualClock::PendingWaits() const {
  return static_cast<std::size_t>(std::count_if(waiters_.begin(), waiters_.end(), [](const auto& entry) {
    const auto waiter = entry.lock();
    return waiter && !waiter->due;
  }));
}

}  // namespace outbox_relay::fakes
