#include "relay/replication_stream.hpp"

#include <array>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "config/logging.hpp"
#include "relay/replication_protocol.hpp"

namespace outbox_relay::relay {

namespace {

using boost::asio::awaitable;
using boost::asio::use_awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = std::chrono::seconds(30);
constexpr auto kQueryTimeout = std::chrono::seconds(60);
// Creating a logical slot waits for every running transaction to end.
constexpr auto kCreateSlotTimeout = std::chrono::minutes(10);
constexpr auto kStatusTimeout = std::chrono::seconds(30);

spdlog::logger& Log() { return config::Logger("relay"); }

std::string FirstLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (auto newline = text.find('\n'); newline != std::string::npos) text.resize(newline);
  return text;
}

// SQLSTATE classes reconnecting cannot fix: bad credentials, missing objects or privileges.
bool IsRetryableSqlState(std::string_view state) {
  return !(state.starts_with("28") || state.starts_with("3D") || state.starts_with("42"));
}

}  // namespace

ReplicationStream::ReplicationStream(boost::asio::io_context& io, const config::SourceConfig& config)
    : io_(io), config_(config), socket_(io) {}

ReplicationStream::~ReplicationStream() { Close(); }

void ReplicationStream::Fail(const std::string& what, bool retryable) {
  std::string detail = conn_ ? FirstLine(PQerrorMessage(conn_.get())) : std::string();
  throw ReplicationError(detail.empty() ? what : what + ": " + detail, retryable);
}

void ReplicationStream::Close() {
  if (socket_.is_open()) socket_.release();  // libpq owns the fd and closes it in PQfinish
  conn_.reset();
  read_cancelled_ = false;
}

awaitable<bool> ReplicationStream::AwaitSocket(Wait wait, Clock::time_point deadline, bool timeout_is_error) {
  const int fd = PQsocket(conn_.get());
  if (fd < 0) Fail("no connection socket");
  // The socket can change while libpq tries the hosts of a multi-host DSN.
  if (socket_.is_open() && socket_.native_handle() != fd) socket_.release();
  if (!socket_.is_open()) socket_.assign(fd);

  for (;;) {
    bool timed_out = false;
    boost::asio::steady_timer timer(io_);
    if (deadline != Clock::time_point::max()) {
      timer.expires_at(deadline);
      timer.async_wait([&](const boost::system::error_code& error) {
        if (!error) {
          timed_out = true;
          socket_.cancel();
        }
      });
    }
    boost::system::error_code error;
    co_await socket_.async_wait(wait == Wait::kRead ? boost::asio::posix::descriptor_base::wait_read
                                                    : boost::asio::posix::descriptor_base::wait_write,
                                boost::asio::redirect_error(use_awaitable, error));
    timer.cancel();
    if (!error) co_return true;
    if (timed_out) {
      if (timeout_is_error) Fail("timed out waiting for PostgreSQL");
      co_return false;
    }
    if (error != boost::asio::error::operation_aborted) Fail("socket error: " + error.message());
    // A cancel meant for the other direction's waiter, or a shutdown request.
    if (wait == Wait::kRead && read_cancelled_) co_return true;
  }
}

awaitable<void> ReplicationStream::FlushOutput(Clock::time_point deadline) {
  for (;;) {
    const int result = PQflush(conn_.get());
    if (result == 0) co_return;
    if (result < 0) Fail("cannot send to PostgreSQL");
    co_await AwaitSocket(Wait::kWrite, deadline);
  }
}

awaitable<void> ReplicationStream::Connect() {
  Close();
  const std::array<const char*, 4> keys = {"dbname", "replication", "fallback_application_name", nullptr};
  const std::array<const char*, 4> values = {config_.dsn.c_str(), "database", "outbox-relay", nullptr};
  conn_.reset(PQconnectStartParams(keys.data(), values.data(), /*expand_dbname=*/1));
  if (!conn_) throw ReplicationError("cannot allocate a PostgreSQL connection", true);
  if (PQstatus(conn_.get()) == CONNECTION_BAD) Fail("cannot connect to PostgreSQL (source.dsn)");
  const auto deadline = Clock::now() + kConnectTimeout;
  auto status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) Fail("cannot connect to PostgreSQL (source.dsn)");
    co_await AwaitSocket(status == PGRES_POLLING_READING ? Wait::kRead : Wait::kWrite, deadline);
    status = PQconnectPoll(conn_.get());
  }
  if (PQsetnonblocking(conn_.get(), 1) != 0) Fail("cannot make the connection non-blocking");
  Log().info("connected to PostgreSQL {} (server {})", PQhost(conn_.get()), PQserverVersion(conn_.get()));
}

awaitable<PgResultHandle> ReplicationStream::Execute(const std::string& sql) {
  const auto deadline = Clock::now() + (sql.starts_with("CREATE_REPLICATION_SLOT") ? kCreateSlotTimeout
                                                                                    : kQueryTimeout);
  if (PQsendQuery(conn_.get(), sql.c_str()) != 1) Fail("cannot send query");
  co_await FlushOutput(deadline);
  PgResultHandle last;
  for (;;) {
    while (PQisBusy(conn_.get())) {
      co_await AwaitSocket(Wait::kRead, deadline);
      if (PQconsumeInput(conn_.get()) != 1) Fail("connection lost");
    }
    PgResultHandle result(PQgetResult(conn_.get()));
    if (!result) break;
    // COPY BOTH has begun: the stream now belongs to Read(), no further result follows.
    if (PQresultStatus(result.get()) == PGRES_COPY_BOTH) co_return result;
    last = std::move(result);
  }
  if (!last) Fail("no result");
  const auto status = PQresultStatus(last.get());
  if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR) {
    const char* state = PQresultErrorField(last.get(), PG_DIAG_SQLSTATE);
    const std::string sqlstate = state ? state : "";
    throw ReplicationError(FirstLine(PQresultErrorMessage(last.get())) + " (SQLSTATE " + sqlstate + ")",
                           IsRetryableSqlState(sqlstate));
  }
  co_return last;
}

std::string ReplicationStream::Escape(Quoting quoting, const std::string& text) {
  PgBufferHandle escaped(quoting == Quoting::kLiteral
                             ? PQescapeLiteral(conn_.get(), text.data(), text.size())
                             : PQescapeIdentifier(conn_.get(), text.data(), text.size()));
  if (!escaped) Fail("cannot quote " + text);
  return escaped.get();
}

awaitable<Lsn> ReplicationStream::EnsureSlot() {
  const auto query = "SELECT confirmed_flush_lsn, plugin, database = current_database() "
                     "FROM pg_replication_slots WHERE slot_name = " + Escape(Quoting::kLiteral, config_.slot);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto found = co_await Execute(query);
    if (PQntuples(found.get()) == 1) {
      // While another session is still creating the slot, its plugin and position are not
      // filled in yet: wait for it like for a slot in use.
      if (PQgetisnull(found.get(), 0, 0) || PQgetisnull(found.get(), 0, 1)) {
        throw ReplicationError("replication slot " + config_.slot + " is being created by another session", true);
      }
      if (std::string_view(PQgetvalue(found.get(), 0, 1)) != "pgoutput") {
        Fail("replication slot " + config_.slot + " uses plugin " + PQgetvalue(found.get(), 0, 1) +
                 ", not pgoutput; drop it or choose another source.slot",
             false);
      }
      if (std::string_view(PQgetvalue(found.get(), 0, 2)) != "t") {
        Fail("replication slot " + config_.slot + " belongs to another database; choose another source.slot",
             false);
      }
      const auto confirmed = Lsn::Parse(PQgetvalue(found.get(), 0, 0));
      if (!confirmed) Fail("replication slot " + config_.slot + " has an unreadable confirmed_flush_lsn", false);
      co_return *confirmed;
    }
    if (!config_.create_slot) {
      Fail("replication slot " + config_.slot +
               " does not exist; create it or set source.create_slot: true",
           false);
    }
    try {
      co_await Execute("CREATE_REPLICATION_SLOT " + Escape(Quoting::kIdentifier, config_.slot) +
                       " LOGICAL pgoutput (SNAPSHOT 'nothing')");
      Log().info("created replication slot {} (pgoutput)", config_.slot);
    } catch (const ReplicationError& error) {
      // Another relay may have created it between the two statements; look again.
      if (std::string_view(error.what()).find("42710") == std::string_view::npos) throw;
    }
  }
  Fail("replication slot " + config_.slot + " vanished while being created");
}

awaitable<void> ReplicationStream::Start(Lsn start) {
  // publication_names is a string literal holding a list of quoted identifiers.
  const auto publications = Escape(Quoting::kLiteral, Escape(Quoting::kIdentifier, config_.publication));
  co_await Execute("START_REPLICATION SLOT " + Escape(Quoting::kIdentifier, config_.slot) + " LOGICAL " +
                   start.ToString() + " (proto_version '1', publication_names " + publications +
                   ", messages 'true')");
  Log().info("streaming from slot {} at {}", config_.slot, start.ToString());
}

awaitable<std::optional<CopyData>> ReplicationStream::Read(Clock::time_point deadline) {
  for (;;) {
    if (read_cancelled_) co_return std::nullopt;
    char* buffer = nullptr;
    const int size = PQgetCopyData(conn_.get(), &buffer, /*async=*/1);
    if (size > 0) co_return CopyData{PgBufferHandle(buffer), static_cast<std::size_t>(size)};
    if (size == 0) {
      if (!co_await AwaitSocket(Wait::kRead, deadline, /*timeout_is_error=*/false)) co_return std::nullopt;
      if (read_cancelled_) co_return std::nullopt;
      if (PQconsumeInput(conn_.get()) != 1) Fail("replication connection lost");
      continue;
    }
    if (size == -1) {
      // The error text is on the connection too; Fail() adds it.
      PgResultHandle result(PQgetResult(conn_.get()));
      Fail("server ended replication");
    }
    Fail("replication connection lost");
  }
}

void ReplicationStream::CancelRead() {
  read_cancelled_ = true;
  if (socket_.is_open()) socket_.cancel();
}

awaitable<void> ReplicationStream::SendStatus(Lsn received, Lsn flushed, bool reply_requested) {
  const auto message = EncodeStandbyStatus(received, flushed, flushed,
                                           ToPgTimestamp(std::chrono::system_clock::now()), reply_requested);
  if (PQputCopyData(conn_.get(), message.data(), static_cast<int>(message.size())) != 1) {
    Fail("cannot send standby status");
  }
  co_await FlushOutput(Clock::now() + kStatusTimeout);
}

}  // namespace outbox_relay::relay
