#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it
#include <variant>

#include <boost/asio/awaitable.hpp>

#include "base/error.hpp"
#include "relay/pg/lsn.hpp"
#include "relay/pg/replication_stream.hpp"

namespace outbox_relay::pipeline {

/// One CopyData message of the replication stream (XLogData or a keepalive, still encoded):
/// libpq's buffer from the server, or bytes a test made.
class ChangeData {
 public:
  explicit ChangeData(pg::CopyData data) : bytes_(std::move(data)) {}
  explicit ChangeData(std::string bytes) : bytes_(std::move(bytes)) {}

  std::string_view Bytes() const {
    if (const auto* copy = std::get_if<pg::CopyData>(&bytes_)) return copy->Bytes();
    return std::get<std::string>(bytes_);
  }

 private:
  std::variant<pg::CopyData, std::string> bytes_;
};

/// How START_REPLICATION went when the connection did not fail.
struct StartOutcome {
  /// Set when another relay streams from the slot (PostgreSQL lets one walsender use it; the
  /// slot is the lock between relays): the server's words. This relay stands by and retries.
  std::optional<std::string> slot_held_elsewhere;
};

/// What the relay needs from PostgreSQL's logical replication: one connection at a time, its
/// slot, the stream of CopyData messages, and standby status updates back. Implemented over
/// libpq by PgChangeSource, scripted in tests (tests/fakes/scripted_change_source.hpp).
/// Used from the io_context thread only; a Read and a SendStatus may be in progress at once.
/// Every failure is a value: kind retryable (the connection is lost or refused for now: the
/// relay reconnects with backoff) or fatal (retrying cannot help: a lost slot, missing grants).
class ChangeSource {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~ChangeSource() = default;

  /// Opens the replication connection, after checking the role's privileges.
  virtual boost::asio::awaitable<base::Result<void>> Connect() = 0;

  /// The slot's confirmed_flush_lsn, creating (and recording) the slot if allowed. A recorded
  /// slot that is gone, or one that lost WAL, is a fatal error: events may be missing.
  virtual boost::asio::awaitable<base::Result<pg::Lsn>> EnsureSlot() = 0;

  /// START_REPLICATION from `start` (the server resumes from the slot if that is later).
  virtual boost::asio::awaitable<base::Result<StartOutcome>> Start(pg::Lsn start) = 0;

  /// The next message; nullopt once `deadline` passed or CancelRead() was called. An error when
  /// the connection is lost or the server ends the stream.
  virtual boost::asio::awaitable<base::Result<std::optional<ChangeData>>> Read(TimePoint deadline) = 0;

  /// Makes a pending or the next Read() return nullopt, until Close().
  virtual void CancelRead() = 0;

  /// Sends a standby status update: `received` is written, `flushed` is flushed and applied.
  virtual boost::asio::awaitable<base::Result<void>> SendStatus(pg::Lsn received, pg::Lsn flushed) = 0;

  /// Ends the stream so that everything sent before reaches the server (bounded).
  virtual boost::asio::awaitable<base::Result<void>> Finish() = 0;

  /// Closes the connection; the server sees the client go away.
  virtual void Close() = 0;

  virtual bool IsOpen() const = 0;
};

}  // namespace outbox_relay::pipeline
