#include "relay/ops/slot_monitor.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"
#include "relay/ops/sql_text.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::ops {

namespace {

using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto kRetryDelay = std::chrono::seconds(5);

}  // namespace

SlotMonitor::SlotMonitor(boost::asio::io_context& io, const config::Config& config, server::RelayMetrics& metrics,
                         std::function<void(const std::string&)> on_wal_limit)
    : config_(config),
      metrics_(metrics),
      on_wal_limit_(std::move(on_wal_limit)),
      conn_(io, config.source, pg::PgConnection::Mode::kNormal),
      primary_source_(config::PrimarySource(config)),
      timer_(io) {
  if (primary_source_) primary_.emplace(io, *primary_source_, pg::PgConnection::Mode::kNormal);
}

void SlotMonitor::Stop() {
  stopping_ = true;
  timer_.cancel();
}

void SlotMonitor::Close() {
  Stop();
  // The wait in progress ends (operation_aborted) and Run() meets stopping_.
  CloseAll();
}

awaitable<void> SlotMonitor::Run() {
  const bool heartbeat = config_.heartbeat.interval.count() > 0;
  next_heartbeat_ = Clock::now() + config_.heartbeat.interval;
  next_poll_ = Clock::now();
  while (!stopping_) {
    auto wake = next_poll_;
    try {
      co_await ConnectAll();
      if (heartbeat && Clock::now() >= next_heartbeat_) co_await Heartbeat();
      if (Clock::now() >= next_poll_) co_await Poll();
      if (failing_) base::RelayLog().info("slot monitor connection is back");
      failing_ = false;
      wake = heartbeat ? std::min(next_heartbeat_, next_poll_) : next_poll_;
    } catch (const pg::ReplicationError& error) {
      if (stopping_) break;  // Close() ended the statement
      if (!failing_)
        base::RelayLog().warn("slot monitor: {}; heartbeat and WAL polling paused, retrying", error.what());
      failing_ = true;
      CloseAll();
      wake = Clock::now() + kRetryDelay;
    }
    // Stop() during a statement found no wait to cancel.
    if (stopping_) break;
    timer_.expires_at(wake);
    boost::system::error_code ignored;  // cancelled by Stop()
    co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
  }
  CloseAll();
}

void SlotMonitor::CloseAll() {
  conn_.Close();
  if (primary_) primary_->Close();
}

awaitable<void> SlotMonitor::ConnectAll() {
  if (!conn_.IsOpen()) {
    co_await conn_.Connect();
    // Again on each connect: a promotion ends the standby's sessions.
    auto recovery = co_await conn_.Execute("SELECT pg_is_in_recovery()");
    standby_ = std::string_view(PQgetvalue(recovery.get(), 0, 0)) == "t";
    if (standby_ && !primary_ && config_.heartbeat.interval.count() > 0 &&
        !std::exchange(standby_reported_, true)) {
      base::RelayLog().warn(
          "source.dsn is a hot standby, which cannot write the heartbeat: no heartbeat until heartbeat.dsn names "
          "the primary (an idle outbox holds WAL on the standby meanwhile)");
    }
  }
  if (standby_ && primary_ && !primary_->IsOpen()) co_await primary_->Connect();
}

awaitable<void> SlotMonitor::Heartbeat() {
  // Transactional, so the server decodes it as a transaction of its own and the relay can
  // confirm its end even when no outbox row is written (a non-transactional message is not
  // flushed on its own on PostgreSQL 15).
  static const std::string kHeartbeat =
      "SELECT pg_logical_emit_message(true, '" + std::string(config::kHeartbeatMessagePrefix) + "', now()::text)";
  next_heartbeat_ = Clock::now() + config_.heartbeat.interval;
  if (!standby_) {
    co_await conn_.Execute(kHeartbeat);
  } else if (primary_) {
    co_await primary_->Execute(kHeartbeat);
    if (slot_missing_ && !snapshot_refused_) co_await LogStandbySnapshot();
  } else {
    co_return;
  }
  metrics_.heartbeats.Increment();
}

awaitable<void> SlotMonitor::LogStandbySnapshot() {
  // A slot created on a standby waits for running-transactions records from the primary, which
  // the primary logs every 15 s at best, and a busy one needs several: asking for them cuts the
  // creation from a minute to a second.
  try {
    co_await primary_->Execute("SELECT pg_log_standby_snapshot()");
  } catch (const pg::ReplicationError& error) {
    if (error.sqlstate() != pg::sqlstate::kInsufficientPrivilege) throw;
    snapshot_refused_ = true;
    base::RelayLog().info(
        "creating slot {} on the standby waits for the primary's running-transactions records (every 15 s); "
        "GRANT EXECUTE ON FUNCTION pg_log_standby_snapshot() on the primary makes it quicker",
        config_.source.slot);
  }
}

awaitable<void> SlotMonitor::Poll() {
  auto result = co_await conn_.Execute(
      "WITH w AS (SELECT " + std::string(detail::kServerWalPositionSql) +
      " AS lsn) SELECT w.lsn - restart_lsn, w.lsn - confirmed_flush_lsn FROM pg_replication_slots, w "
      "WHERE slot_name = " +
      conn_.Escape(pg::PgConnection::Quoting::kLiteral, config_.source.slot));
  next_poll_ = Clock::now() + config_.wal_guard.poll_interval;
  slot_missing_ = PQntuples(result.get()) == 0;
  if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0)) co_return;
  const double retained = std::strtod(PQgetvalue(result.get(), 0, 0), nullptr);
  metrics_.retained_wal_bytes.Set(retained);
  if (!PQgetisnull(result.get(), 0, 1))
    metrics_.lag_bytes.Set(std::strtod(PQgetvalue(result.get(), 0, 1), nullptr));
  Guard(retained);
}

void SlotMonitor::Guard(double retained_bytes) {
  const auto& guard = config_.wal_guard;
  const auto over = [retained_bytes](std::uint64_t limit) {
    return limit != 0 && retained_bytes >= static_cast<double>(limit);
  };
  const GuardLevel level = over(guard.max_bytes)    ? GuardLevel::kMax
                           : over(guard.warn_bytes) ? GuardLevel::kWarn
                                                    : GuardLevel::kOk;
  metrics_.wal_guard_exceeded_warn.Set(level != GuardLevel::kOk ? 1 : 0);
  metrics_.wal_guard_exceeded_max.Set(level == GuardLevel::kMax ? 1 : 0);
  if (level == guard_) return;
  guard_ = level;
  const auto bytes = static_cast<std::uint64_t>(retained_bytes);
  switch (level) {
    case GuardLevel::kOk:
      base::RelayLog().info("slot {} retains {} bytes of WAL, back under wal_guard.warn_bytes",
                            config_.source.slot, bytes);
      break;
    case GuardLevel::kWarn:
      base::RelayLog().warn(
          "slot {} retains {} bytes of WAL, over wal_guard.warn_bytes ({}); is the relay keeping up?",
          config_.source.slot, bytes, guard.warn_bytes);
      break;
    case GuardLevel::kMax: {
      const std::string what = "slot " + config_.source.slot + " retains " + std::to_string(bytes) +
                               " bytes of WAL, over wal_guard.max_bytes (" + std::to_string(guard.max_bytes) + ")";
      if (guard.action == config::WalGuardAction::kStop) {
        on_wal_limit_(what + "; stopping (wal_guard.action: stop)");
      } else {
        base::RelayLog().error("{}; the server's disk may fill up (wal_guard.action: alert)", what);
      }
      break;
    }
  }
}

}  // namespace outbox_relay::ops
