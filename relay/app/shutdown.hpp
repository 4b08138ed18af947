#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "relay/app/task_group.hpp"

namespace outbox_relay::app {

/// What the shutdown works on: the task group of `outbox-relay run` and a few facts about it,
/// as names and callbacks so the steps can be tested without servers.
struct ShutdownPlan {
  /// The data path's task (pipeline::Relay::Run). Its stop callback stops reading WAL (reading
  /// on to the commit of a transaction half received, for at most `drain_timeout`); before it
  /// ends it drains the sink for at most `drain_timeout` (warning with the count of what
  /// remains), sends the final standby status with the acknowledged LSN and closes the
  /// replication connection.
  std::string relay_task = "relay";
  /// shutdown.timeout_ms.
  std::chrono::milliseconds drain_timeout{30000};
  /// Beyond the two drain_timeouts, for the Kafka transaction's commit or abort and the final
  /// standby status (each bounded by its own deadline inside the relay).
  std::chrono::milliseconds final_status_grace{10000};
  /// How long the other tasks (slot monitor, HTTP server) get to return after their stop.
  std::chrono::milliseconds tasks_timeout{5000};
  /// Closes every PostgreSQL connection still open outside the relay (the slot monitor's).
  std::function<void()> close_postgres;
};

/// How the shutdown went.
struct ShutdownReport {
  /// The relay task ended within its step's deadline: what it confirmed is final.
  bool relay_finished = false;
  /// The tasks that had not ended when their step's deadline passed, in spawn order.
  std::vector<std::string> unfinished;
};

/// The shutdown of `outbox-relay run`, as named steps each with a deadline and log lines
/// (logger "relay") saying when each starts and how it ended:
///   1. stop reading WAL: the relay task's stop callback;
///   2. drain and final standby status: wait for the relay task, at most
///      2 × drain_timeout + final_status_grace (reading on to a commit, draining, the final
///      status update; the relay logs what stayed unacknowledged and the LSN it confirmed);
///   3. stop the other tasks: every stop callback, then wait at most tasks_timeout;
///   4. close PostgreSQL: close_postgres, for a task that did not return in time.
/// A step whose deadline passes is reported and the next one runs: the process exits in bounded
/// time. Also right when the relay ended on its own (a fatal error): step 1 is then a no-op.
/// Run it once, on the io_context thread that runs `tasks`; `reason` says why (for the log).
boost::asio::awaitable<ShutdownReport> Shutdown(TaskGroup& tasks, ShutdownPlan plan, std::string reason);

}  // namespace outbox_relay::app
