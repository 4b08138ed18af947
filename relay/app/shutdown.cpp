#include "relay/app/shutdown.hpp"

#include <string_view>

#include <fmt/format.h>

#include "base/logging.hpp"

namespace outbox_relay::app {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kSteps = 4;

long long MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// One step's log lines: what it is and its deadline when it starts, how long it took or what
// did not finish when it ends.
class Step {
 public:
  Step(int number, std::string name) : number_(number), name_(std::move(name)) {}

  void Begin(std::string_view detail) const {
    base::RelayLog().info("shutdown step {}/{}, {}: {}", number_, kSteps, name_, detail);
  }
  void Done() const {
    base::RelayLog().info("shutdown step {}/{} done in {} ms", number_, kSteps, MillisecondsSince(start_));
  }
  void Late(std::string_view what) const {
    base::RelayLog().warn("shutdown step {}/{}, {}: {} after {} ms", number_, kSteps, name_, what,
                          MillisecondsSince(start_));
  }

 private:
  int number_;
  std::string name_;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

boost::asio::awaitable<ShutdownReport> Shutdown(TaskGroup& tasks, ShutdownPlan plan, std::string reason) {
  const auto start = Clock::now();
  ShutdownReport report;
  base::RelayLog().info("shutting down ({})", reason);

  {
    const Step step(1, "stop reading WAL");
    if (tasks.Finished(plan.relay_task)) {
      step.Begin(fmt::format("task {} has ended already", plan.relay_task));
    } else {
      step.Begin(
          fmt::format("asking task {} to stop (it reads on to the commit of a transaction half received, "
                      "for at most shutdown.timeout_ms {})",
                      plan.relay_task, plan.drain_timeout.count()));
      tasks.Stop(plan.relay_task);
    }
  }

  {
    const auto timeout = 2 * plan.drain_timeout + plan.final_status_grace;
    const Step step(2, "drain and final standby status");
    step.Begin(fmt::format("waiting up to {} ms for task {}", timeout.count(), plan.relay_task));
    report.relay_finished = co_await tasks.Wait(plan.relay_task, Clock::now() + timeout);
    if (report.relay_finished) {
      step.Done();
    } else {
      report.unfinished.push_back(plan.relay_task);
      step.Late(
          fmt::format("task {} did not finish; the slot keeps the position of the last standby status, "
                      "and what came after it is sent again after the restart",
                      plan.relay_task));
    }
  }

  {
    const Step step(3, "stop the other tasks");
    std::vector<std::string> others = tasks.Running();
    std::erase(others, plan.relay_task);  // reported by step 2 already
    const std::string names = others.empty() ? "none running" : fmt::format("{}", fmt::join(others, ", "));
    step.Begin(fmt::format("{}; waiting up to {} ms", names, plan.tasks_timeout.count()));
    tasks.StopAll();
    // Each of the others, not Wait() for all: a relay late in step 2 would use up this deadline.
    const auto deadline = Clock::now() + plan.tasks_timeout;
    std::vector<std::string> late;
    for (const auto& name : others) {
      if (!co_await tasks.Wait(name, deadline)) late.push_back(name);
    }
    if (late.empty()) {
      step.Done();
    } else {
      step.Late(fmt::format("did not finish: {}", fmt::join(late, ", ")));
      report.unfinished.insert(report.unfinished.end(), late.begin(), late.end());
    }
  }

  {
    const Step step(4, "close PostgreSQL");
    step.Begin(
        "the connections left outside the relay (the relay closes the replication connection before it ends)");
    if (plan.close_postgres) plan.close_postgres();
    step.Done();
  }

  if (report.unfinished.empty()) {
    base::RelayLog().info("shutdown finished in {} ms", MillisecondsSince(start));
  } else {
    base::RelayLog().warn("shutdown finished in {} ms; tasks left unfinished: {}", MillisecondsSince(start),
                          fmt::join(report.unfinished, ", "));
  }
  co_return report;
}

}  // namespace outbox_relay::app
