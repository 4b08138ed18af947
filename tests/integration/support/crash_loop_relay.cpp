// LoopRelay: the relay under test and its slot, for the crash loop.

#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "support/crash_loop_run.hpp"

namespace outbox_relay::it::crash_loop_detail {

using namespace std::chrono_literals;

LoopRelay::LoopRelay(RelayProcess& relay, TestDatabase& db, std::string slot, bool may_exit,
                     Clock::time_point start)
    : relay_(relay), db_(db), slot_(std::move(slot)), may_exit_(may_exit), start_(start) {}

void LoopRelay::KeepRunning(const std::string& when) {
  if (relay_.Running()) return;
  ++self_exits_;
  const std::string status = relay_.LastExit().value_or(ExitStatus{}).Describe();
  std::cout << "[ relay ] at " << Since(start_) << " the relay exited by itself " << when << " ("
            << status << "); its last lines:\n"
            << relay_.StderrTail(4);
  if (!may_exit_) Fail("the relay exited by itself " + when + ": " + status);
  relay_.Start();
}

void LoopRelay::AwaitStreaming(const std::string& when, std::optional<std::int64_t> old_pid) {
  const auto deadline = Clock::now() + 60s;
  while (true) {
    try {
      const auto slot = db_.Slot(slot_);
      if (slot && slot->active && slot->active_pid != old_pid) return;
    } catch (const PgError& e) {
      if (Clock::now() >= deadline) throw;
    }
    KeepRunning(when);
    if (Clock::now() >= deadline) {
      Fail("the relay did not activate slot " + slot_ + " within 60 s (" + when + ")");
    }
    std::this_thread::sleep_for(200ms);
  }
}

std::uint64_t LoopRelay::ConfirmedFlushLsn() {
  const auto slot = db_.Slot(slot_);
  if (!slot || !slot->confirmed_flush_lsn) Fail("slot " + slot_ + " vanished");
  return *slot->confirmed_flush_lsn;
}

}  // namespace outbox_relay::it::crash_loop_detail
