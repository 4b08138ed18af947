#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "relay/pipeline/clock.hpp"

namespace outbox_relay::fakes {

/// A clock that moves only when the test says so. Waits on its timers end when Advance()
/// passes their deadline or when they are cancelled; their coroutines resume the next time
/// the io_context runs. Timers take the executor of the coroutine that waits, so one clock
/// serves several io_contexts (a relay, a crash, the relay after it). Single-threaded.
class ManualClock final : public pipeline::Clock {
 public:
  ManualClock();
  ~ManualClock() override;

  TimePoint Now() const override { return now_; }
  std::chrono::system_clock::time_point WallNow() const override { return wall_; }
  std::unique_ptr<pipeline::Timer> MakeTimer() override;

  /// Moves both clocks forward and wakes every wait whose deadline is now reached.
  void Advance(std::chrono::steady_clock::duration by);

  /// The earliest deadline a wait is pending on; nullopt when nothing waits for time.
  std::optional<TimePoint> NextDeadline() const;

  /// How many waits are pending (deadline or not).
  std::size_t PendingWaits() const;

  struct Waiter;

 private:
  friend class ManualTimer;
  void Register(const std::shared_ptr<Waiter>& waiter);

  TimePoint now_;
  std::chrono::system_clock::time_point wall_;
  std::vector<std::weak_ptr<Waiter>> waiters_;
};

}  // namespace outbox_relay::fakes
