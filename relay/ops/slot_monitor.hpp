#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "relay/pg/pg_connection.hpp"
#include "relay/server/metrics.hpp"

namespace outbox_relay::ops {

/// Side work on a normal (not replication) connection to the source database, so it never
/// waits behind the stream: the heartbeat (a transactional logical message every
/// heartbeat.interval, so an idle outbox does not pin WAL), and polling the slot's retained WAL
/// and lag for the metrics and the WAL guard. When source.dsn is a hot standby the heartbeat goes
/// to heartbeat.dsn (the primary; the message reaches the standby's slot by replication), and
/// the distances are to the standby's replay position. Reconnects on its own; io_context thread
/// only.
class SlotMonitor {
 public:
  /// `on_wal_limit` is called when retained WAL passes wal_guard.max_bytes and the action is
  /// stop.
  SlotMonitor(boost::asio::io_context& io, const config::Config& config, server::RelayMetrics& metrics,
              std::function<void(const std::string&)> on_wal_limit);

  /// Runs until Stop() or Close(), then closes its connection and returns.
  boost::asio::awaitable<void> Run();
  /// Asks Run() to return: at once while it waits for the next heartbeat or poll, after the
  /// statement in progress otherwise (bounded by PgConnection::kQueryTimeout).
  void Stop();
  /// Stop(), and closes the connection now, ending a statement or connect in progress (the
  /// shutdown's last step, for a monitor that did not return in time).
  void Close();

 private:
  enum class GuardLevel { kOk, kWarn, kMax };

  boost::asio::awaitable<void> ConnectAll();
  void CloseAll();
  boost::asio::awaitable<void> Heartbeat();
  boost::asio::awaitable<void> LogStandbySnapshot();
  boost::asio::awaitable<void> Poll();
  void Guard(double retained_bytes);

  const config::Config& config_;
  server::RelayMetrics& metrics_;
  std::function<void(const std::string&)> on_wal_limit_;
  pg::PgConnection conn_;
  const std::optional<config::SourceConfig> primary_source_;
  std::optional<pg::PgConnection> primary_;  // heartbeat.dsn's, used while standby_
  bool standby_ = false;                     // source.dsn is in recovery
  bool standby_reported_ = false;
  bool slot_missing_ = false;        // the last poll found no slot (being created, perhaps)
  bool snapshot_refused_ = false;    // the role may not run pg_log_standby_snapshot()
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_heartbeat_;
  std::chrono::steady_clock::time_point next_poll_;
  GuardLevel guard_ = GuardLevel::kOk;
  bool failing_ = false;
  bool stopping_ = false;
};

}  // namespace outbox_relay::ops
