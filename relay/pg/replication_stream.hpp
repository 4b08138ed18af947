#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "relay/pg/lsn.hpp"
#include "relay/pg/pg_connection.hpp"
#include "relay/pg/server_features.hpp"

namespace outbox_relay::pg {

/// What outbox.relay_slots (V3) remembers of a slot the relay created or adopted.
struct SlotRecord {
  std::string created_lsn;
  std::string created_at;
};

/// Why a recorded slot that is gone may mean lost events (the relay, `check` and `init` say it
/// alike), completing "replication slot S ...".
std::string SlotGoneProblem(const SlotRecord& record);

/// Why a slot whose wal_status is lost may mean lost events.
inline constexpr std::string_view kSlotLostProblem =
    "lost WAL it still needed (wal_status lost): events committed since the relay's last acknowledgement "
    "may never reach Kafka";

/// What to do about either, knowingly.
inline constexpr std::string_view kRecreateSlotHint =
    "if you accept that, run outbox-relay init --recreate-slot, then republish the gap with outbox-relay "
    "replay (docs/operations.md)";

/// One CopyData message from the server; owns libpq's buffer.
struct CopyData {
  PgBufferHandle buffer;
  std::size_t size = 0;
  std::string_view Bytes() const { return {buffer.get(), size}; }
};

/// A logical replication connection (libpq, non-blocking, driven by the io_context): connect,
/// make sure the slot exists, START_REPLICATION with pgoutput, then read CopyData and send
/// standby status updates. No call blocks the thread. Not thread-safe: use it from the
/// io_context thread. Reading and sending may be in progress at the same time.
class ReplicationStream {
 public:
  /// `primary`: where outbox.relay_slots is written when `config` is a hot standby, which
  /// cannot write (heartbeat.dsn); the record reaches the standby by replication.
  ReplicationStream(boost::asio::io_context& io, const config::SourceConfig& config,
                    std::optional<config::SourceConfig> primary = std::nullopt);

  /// Connects in replication mode. Throws ReplicationError.
  boost::asio::awaitable<void> Connect();

  /// Returns the slot's confirmed_flush_lsn, creating the slot (pgoutput) if it is missing
  /// and source.create_slot allows, and recording it in outbox.relay_slots. A missing slot
  /// that outbox.relay_slots remembers, or a slot with wal_status lost, is a non-retryable
  /// ReplicationError: events may be missing, and only the operator may start over.
  boost::asio::awaitable<Lsn> EnsureSlot();

  /// START_REPLICATION from `start` with the server's highest pgoutput protocol, the publication
  /// and, from PostgreSQL 14, messages on (ServerFeatures).
  boost::asio::awaitable<void> Start(Lsn start);

  /// The next CopyData message; nullopt once CancelRead() was called or `deadline` passed.
  /// Throws ReplicationError when the connection is lost or the server ends the stream.
  boost::asio::awaitable<std::optional<CopyData>> Read(
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

  /// Makes a pending or the next Read() return nullopt (for shutdown).
  void CancelRead();

  /// Sends a standby status update and waits until libpq has written it out (bounded).
  boost::asio::awaitable<void> SendStatus(Lsn received, Lsn flushed, bool reply_requested);

  /// Ends the COPY stream (CopyDone) and reads until the server has ended it too, discarding
  /// data, so that everything sent before reached the server (bounded; then gives up).
  boost::asio::awaitable<void> Finish();

  /// Closes the connection; the walsender sees the client go away.
  void Close();

  bool IsOpen() const { return conn_.IsOpen(); }

  /// What the connected server supports.
  ServerFeatures Server() const;

 private:
  boost::asio::awaitable<std::optional<SlotRecord>> ReadSlotRecord();
  boost::asio::awaitable<void> RecordSlot(Lsn created_lsn);
  /// Runs the record's INSERT on `conn`; false when a standby refused it as read-only.
  boost::asio::awaitable<bool> InsertSlotRecord(PgConnection& conn, Lsn created_lsn);
  /// True (after one warning) when `error` means outbox.relay_slots is missing, not ours to use,
  /// or read-only (a standby with no heartbeat.dsn).
  bool ProtectionOffBecause(const ReplicationError& error);

  boost::asio::io_context& io_;
  const config::SourceConfig& config_;
  const std::optional<config::SourceConfig> primary_;
  PgConnection conn_;
  bool protection_off_reported_ = false;
  boost::asio::steady_timer batch_timer_;
  std::chrono::steady_clock::time_point last_read_;  // the last read after a wait
};

}  // namespace outbox_relay::pg
