#include "relay/pg/replication_stream.hpp"

#include <libpq-fe.h>

#include <utility>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"
#include "relay/pg/replication_protocol.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::pg {

namespace {

using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

// Creating a logical slot waits for every running transaction to end.
constexpr auto kCreateSlotTimeout = std::chrono::minutes(10);
constexpr auto kStatusTimeout = std::chrono::seconds(30);
constexpr auto kFinishTimeout = std::chrono::seconds(10);
// A busy stream is read once per window. A walsender slower than the relay (the usual case)
// otherwise wakes it for every TCP segment of a few hundred bytes, and the wake-ups (epoll_wait,
// recv, the ACK the read sends) cost more CPU than the events in them (bench/README.md). An
// event of a busy stream waits at most this long, against librdkafka's linger.ms of 5 ms; an
// idle stream is read as soon as data arrives.
constexpr auto kReadBatchWindow = std::chrono::milliseconds(1);

}  // namespace

ReplicationStream::ReplicationStream(boost::asio::io_context& io, const config::SourceConfig& config,
                                     std::optional<config::SourceConfig> primary)
    : io_(io),
      config_(config),
      primary_(std::move(primary)),
      conn_(io, config, PgConnection::Mode::kReplication),
      batch_timer_(io) {}

awaitable<void> ReplicationStream::Connect() { co_await conn_.Connect(); }

void ReplicationStream::Close() { conn_.Close(); }

ServerFeatures ReplicationStream::Server() const { return ServerFeatures(PQserverVersion(conn_.Native())); }

awaitable<void> ReplicationStream::Finish() {
  const auto deadline = Clock::now() + kFinishTimeout;
  if (PQputCopyEnd(conn_.Native(), nullptr) != 1) conn_.Fail("cannot end the replication stream");
  co_await conn_.FlushOutput(deadline);
  for (;;) {
    char* buffer = nullptr;
    const int size = PQgetCopyData(conn_.Native(), &buffer, /*async=*/1);
    if (size > 0) {
      PgBufferHandle discarded(buffer);
      continue;
    }
    if (size < 0) break;  // the server ended COPY too
    if (!co_await conn_.AwaitSocket(PgConnection::Wait::kRead, deadline, /*timeout_is_error=*/false)) {
      conn_.Fail("the server did not end the replication stream in time");
    }
    if (PQconsumeInput(conn_.Native()) != 1) conn_.Fail("connection lost while ending replication");
  }
  // Collect the command's results so the connection closes idle; PQgetResult would block
  // while one is incomplete, so wait for input first.
  for (;;) {
    while (PQisBusy(conn_.Native())) {
      if (!co_await conn_.AwaitSocket(PgConnection::Wait::kRead, deadline, /*timeout_is_error=*/false) ||
          PQconsumeInput(conn_.Native()) != 1) {
        co_return;
      }
    }
    PgResultHandle result(PQgetResult(conn_.Native()));
    if (!result) co_return;
  }
}

awaitable<Lsn> ReplicationStream::EnsureSlot() {
  const auto slot = conn_.Escape(PgConnection::Quoting::kLiteral, config_.slot);
  const auto query =
      "SELECT confirmed_flush_lsn, plugin, database = current_database(), wal_status "
      "FROM pg_replication_slots WHERE slot_name = " +
      slot;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto found = co_await conn_.Execute(query);
    if (PQntuples(found.get()) == 1) {
      // While another session is still creating the slot, its plugin and position are not
      // filled in yet: wait for it like for a slot in use.
      if (PQgetisnull(found.get(), 0, 0) || PQgetisnull(found.get(), 0, 1)) {
        throw ReplicationError("replication slot " + config_.slot + " is being created by another session", true);
      }
      if (std::string_view(PQgetvalue(found.get(), 0, 1)) != "pgoutput") {
        conn_.Fail("replication slot " + config_.slot + " uses plugin " + PQgetvalue(found.get(), 0, 1) +
                       ", not pgoutput; drop it or choose another source.slot",
                   false);
      }
      if (std::string_view(PQgetvalue(found.get(), 0, 2)) != "t") {
        conn_.Fail("replication slot " + config_.slot + " belongs to another database; choose another source.slot",
                   false);
      }
      if (std::string_view(PQgetvalue(found.get(), 0, 3)) == "lost") {
        conn_.Fail("replication slot " + config_.slot + " " + std::string(kSlotLostProblem) + "; " +
                       std::string(kRecreateSlotHint),
                   false);
      }
      const auto confirmed = Lsn::Parse(PQgetvalue(found.get(), 0, 0));
      if (!confirmed)
        conn_.Fail("replication slot " + config_.slot + " has an unreadable confirmed_flush_lsn", false);
      if (!(co_await ReadSlotRecord())) co_await RecordSlot(*confirmed);
      co_return *confirmed;
    }
    if (const auto record = co_await ReadSlotRecord()) {
      conn_.Fail("replication slot " + config_.slot + " " + SlotGoneProblem(*record) +
                     "; the relay does not create a new slot by itself: " + std::string(kRecreateSlotHint),
                 false);
    }
    if (!config_.create_slot) {
      conn_.Fail("replication slot " + config_.slot + " does not exist; create it or set source.create_slot: true",
                 false);
    }
    // A slot on a standby cannot be a failover slot (17+ refuses it): it is the standby's own.
    auto recovery = co_await conn_.Execute("SELECT pg_is_in_recovery()");
    const bool failover = config_.slot_failover && std::string_view(PQgetvalue(recovery.get(), 0, 0)) != "t";
    try {
      auto created = co_await conn_.Execute(
          CreateSlotCommand(Server(), conn_.Escape(PgConnection::Quoting::kIdentifier, config_.slot), failover),
          kCreateSlotTimeout);
      // Columns: slot_name, consistent_point, snapshot_name, output_plugin.
      const auto consistent_point = Lsn::Parse(PQgetvalue(created.get(), 0, 1));
      if (!consistent_point) conn_.Fail("CREATE_REPLICATION_SLOT returned an unreadable consistent point", false);
      base::RelayLog().info("created replication slot {} (pgoutput{}) at {}", config_.slot,
                            failover && Server().FailoverSlots() ? ", failover" : "",
                            consistent_point->ToString());
      co_await RecordSlot(*consistent_point);
    } catch (const ReplicationError& error) {
      // Another relay may have created it between the two statements; look again.
      if (error.sqlstate() != sqlstate::kDuplicateObject) throw;
    }
  }
  conn_.Fail("replication slot " + config_.slot + " vanished while being created");
}

std::string SlotGoneProblem(const SlotRecord& record) {
  return "is gone, but outbox.relay_slots shows it was created at " + record.created_lsn + " on " +
         record.created_at +
         " (a PostgreSQL failover, or a dropped slot): events committed since the "
         "relay's last acknowledgement may never reach Kafka";
}

awaitable<std::optional<SlotRecord>> ReplicationStream::ReadSlotRecord() {
  try {
    auto found = co_await conn_.Execute(
        "SELECT created_lsn::text, created_at::text FROM outbox.relay_slots WHERE slot_name = " +
        conn_.Escape(PgConnection::Quoting::kLiteral, config_.slot));
    if (PQntuples(found.get()) == 0) co_return std::nullopt;
    co_return SlotRecord{PQgetvalue(found.get(), 0, 0), PQgetvalue(found.get(), 0, 1)};
  } catch (const ReplicationError& error) {
    if (!ProtectionOffBecause(error)) throw;
  }
  co_return std::nullopt;
}

awaitable<void> ReplicationStream::RecordSlot(Lsn created_lsn) {
  if (co_await InsertSlotRecord(conn_, created_lsn)) co_return;
  PgConnection primary(io_, *primary_, PgConnection::Mode::kNormal);
  co_await primary.Connect();
  if (!co_await InsertSlotRecord(primary, created_lsn)) {
    primary.Fail("heartbeat.dsn is a standby too: the relay records its slot there, so it must be the primary",
                 false);
  }
}

awaitable<bool> ReplicationStream::InsertSlotRecord(PgConnection& conn, Lsn created_lsn) {
  try {
    co_await conn.Execute("INSERT INTO outbox.relay_slots (slot_name, created_lsn) VALUES (" +
                          conn.Escape(PgConnection::Quoting::kLiteral, config_.slot) + ", '" +
                          created_lsn.ToString() + "') ON CONFLICT (slot_name) DO NOTHING");
  } catch (const ReplicationError& error) {
    if (error.sqlstate() == sqlstate::kReadOnlySqlTransaction && primary_) co_return false;
    if (!ProtectionOffBecause(error)) throw;
  }
  co_return true;
}

bool ReplicationStream::ProtectionOffBecause(const ReplicationError& error) {
  // 42P01: V3 not applied; 42501: a role without SELECT/INSERT on outbox.relay_slots; 25006: a
  // standby, with no primary to write to. None stops streaming: the relay only loses its
  // evidence against a silently re-created slot.
  const auto& state = error.sqlstate();
  const bool read_only = state == sqlstate::kReadOnlySqlTransaction;
  if (state != sqlstate::kUndefinedTable && state != sqlstate::kInsufficientPrivilege && !read_only) return false;
  if (!protection_off_reported_) {
    protection_off_reported_ = true;
    base::RelayLog().warn("slot-loss protection is off: {}; {}", error.what(),
                          read_only ? "source.dsn is a standby: set heartbeat.dsn to the primary, where the relay "
                                      "records its slot"
                                    : "apply outbox/sql/V3__relay_slots.sql (outbox-relay init) and grant the "
                                      "relay SELECT, INSERT on outbox.relay_slots");
  }
  return true;
}

awaitable<void> ReplicationStream::Start(Lsn start) {
  // publication_names is a string literal holding a list of quoted identifiers.
  const auto publications = conn_.Escape(PgConnection::Quoting::kLiteral,
                                         conn_.Escape(PgConnection::Quoting::kIdentifier, config_.publication));
  co_await conn_.Execute(StartReplicationCommand(
      Server(), conn_.Escape(PgConnection::Quoting::kIdentifier, config_.slot), start, publications));
  base::RelayLog().info("streaming from slot {} at {} (PostgreSQL {}, pgoutput protocol {})", config_.slot,
                        start.ToString(), Server().Major(), Server().ProtoVersion());
}

awaitable<std::optional<CopyData>> ReplicationStream::Read(Clock::time_point deadline) {
  // libpq has no whole message: read what has arrived without waiting (over TLS most often the
  // next record in OpenSSL's read-ahead buffer); if that brings none, wait for the rest of the
  // batch window of a busy stream, read again, and only then wait for the socket. AwaitSocket
  // serves a whole TLS record OpenSSL holds at once (an SSL_peek, too costly for every message).
  bool read_without_wait = false;
  bool batch_waited = false;
  for (;;) {
    if (conn_.ReadsCancelled()) co_return std::nullopt;
    char* buffer = nullptr;
    const int size = PQgetCopyData(conn_.Native(), &buffer, /*async=*/1);
    if (size > 0) co_return CopyData{PgBufferHandle(buffer), static_cast<std::size_t>(size)};
    if (size == 0) {
      if (!std::exchange(read_without_wait, true)) {
        if (PQconsumeInput(conn_.Native()) != 1) conn_.Fail("replication connection lost");
        continue;
      }
      const auto window_end = last_read_ + kReadBatchWindow;
      if (!batch_waited && Clock::now() < window_end && window_end < deadline) {
        batch_waited = true;
        batch_timer_.expires_at(window_end);
        boost::system::error_code ignored;  // only cancelled with the stream
        co_await batch_timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
      } else if (!co_await conn_.AwaitSocket(PgConnection::Wait::kRead, deadline, /*timeout_is_error=*/false)) {
        co_return std::nullopt;
      }
      if (conn_.ReadsCancelled()) co_return std::nullopt;
      last_read_ = Clock::now();
      read_without_wait = false;
      continue;
    }
    if (size == -1) {
      // The error text is on the connection too; Fail() adds it.
      PgResultHandle result(PQgetResult(conn_.Native()));
      conn_.Fail("server ended replication");
    }
    conn_.Fail("replication connection lost");
  }
}

void ReplicationStream::CancelRead() { conn_.CancelReads(); }

awaitable<void> ReplicationStream::SendStatus(Lsn received, Lsn flushed, bool reply_requested) {
  const auto message = EncodeStandbyStatus(received, flushed, flushed,
                                           ToPgTimestamp(std::chrono::system_clock::now()), reply_requested);
  if (PQputCopyData(conn_.Native(), message.data(), static_cast<int>(message.size())) != 1) {
    conn_.Fail("cannot send standby status");
  }
  co_await conn_.FlushOutput(Clock::now() + kStatusTimeout);
}

}  // namespace outbox_relay::pg
