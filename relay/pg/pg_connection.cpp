#include "relay/pg/pg_connection.hpp"

#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <memory>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"
#include "relay/pg/pg_conninfo.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::pg {

namespace {

using boost::asio::awaitable;
using boost::asio::use_awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = std::chrono::seconds(30);

std::string FirstLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (auto newline = text.find('\n'); newline != std::string::npos) text.resize(newline);
  return text;
}

}  // namespace

PgConnection::PgConnection(boost::asio::io_context& io, const config::SourceConfig& source, Mode mode)
    : io_(io), source_(source), mode_(mode), socket_(io) {}

PgConnection::~PgConnection() { Close(); }

void PgConnection::CancelReads() {
  reads_cancelled_ = true;
  if (socket_.is_open()) socket_.cancel();
}

void PgConnection::Fail(const std::string& what, bool retryable) {
  std::string detail = conn_ ? FirstLine(PQerrorMessage(conn_.get())) : std::string();
  throw ReplicationError(detail.empty() ? what : what + ": " + detail, retryable);
}

void PgConnection::Close() {
  if (socket_.is_open()) socket_.release();  // libpq owns the fd and closes it in PQfinish
  conn_.reset();
  reads_cancelled_ = false;
}

bool PgConnection::TlsRecordBuffered() const {
  auto* ssl = static_cast<SSL*>(PQsslStruct(conn_.get(), "OpenSSL"));
  if (ssl == nullptr || SSL_has_pending(ssl) == 0) return false;
  if (SSL_pending(ssl) > 0) return true;
  // Raw bytes are buffered: a whole record libpq can read without the socket, or only the start
  // of one. Peeking decrypts a whole one and stops at a partial one (its rest is still to come on
  // the socket); libpq's next SSL_read takes the peeked bytes. libpq clears OpenSSL's error queue
  // before each read, and so does this.
  char next = 0;
  ERR_clear_error();
  const int peeked = SSL_peek(ssl, &next, 1);
  const int error = peeked > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, peeked);
  ERR_clear_error();
  // Any other outcome (close_notify, a broken record) is for libpq's read to report.
  return error != SSL_ERROR_WANT_READ;
}

awaitable<bool> PgConnection::AwaitSocket(Wait wait, Clock::time_point deadline, bool timeout_is_error) {
  const int fd = PQsocket(conn_.get());
  if (fd < 0) Fail("no connection socket");
  // A record OpenSSL already holds never makes the socket readable again.
  if (wait == Wait::kRead && TlsRecordBuffered()) co_return true;
  if (!socket_.is_open()) socket_.assign(fd);

  for (;;) {
    // When the deadline and the socket are ready together, the timer's handler is already queued
    // and cancel() cannot stop it: it runs after this wait, perhaps after this frame is gone. So
    // it shares its state with the frame instead of pointing into it, and does nothing late.
    struct DeadlineState {
      bool timed_out = false;
      bool wait_over = false;
    };
    const auto state = std::make_shared<DeadlineState>();
    boost::asio::steady_timer timer(io_);
    if (deadline != Clock::time_point::max()) {
      timer.expires_at(deadline);
      timer.async_wait([this, state](const boost::system::error_code& error) {
        if (!error && !state->wait_over) {
          state->timed_out = true;
          socket_.cancel();
        }
      });
    }
    boost::system::error_code error;
    co_await socket_.async_wait(wait == Wait::kRead ? boost::asio::posix::descriptor_base::wait_read
                                                    : boost::asio::posix::descriptor_base::wait_write,
                                boost::asio::redirect_error(use_awaitable, error));
    state->wait_over = true;
    timer.cancel();
    if (!error) co_return true;
    if (state->timed_out) {
      if (timeout_is_error) Fail("timed out waiting for PostgreSQL");
      co_return false;
    }
    if (error != boost::asio::error::operation_aborted) Fail("socket error: " + error.message());
    // A cancel meant for the other direction's waiter, or a shutdown request.
    if (wait == Wait::kRead && reads_cancelled_) co_return true;
  }
}

awaitable<void> PgConnection::FlushOutput(Clock::time_point deadline) {
  for (;;) {
    const int result = PQflush(conn_.get());
    if (result == 0) co_return;
    if (result < 0) Fail("cannot send to PostgreSQL");
    co_await AwaitSocket(Wait::kWrite, deadline);
  }
}

awaitable<void> PgConnection::Connect() {
  Close();
  // The mode set here wins over anything the DSN says.
  const PgConnectParams params(source_, {{"fallback_application_name", "outbox-relay"}},
                               {{"replication", mode_ == Mode::kReplication ? "database" : "false"}});
  conn_.reset(PQconnectStartParams(params.Keywords(), params.Values(), /*expand_dbname=*/1));
  if (!conn_) throw ReplicationError("cannot allocate a PostgreSQL connection", true);
  if (PQstatus(conn_.get()) == CONNECTION_BAD) Fail("cannot connect to PostgreSQL (source.dsn)");
  const auto deadline = Clock::now() + kConnectTimeout;
  auto status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK) {
    if (status == PGRES_POLLING_FAILED) Fail("cannot connect to PostgreSQL (source.dsn)");
    co_await AwaitSocket(status == PGRES_POLLING_READING ? Wait::kRead : Wait::kWrite, deadline);
    status = PQconnectPoll(conn_.get());
    // The socket changes while libpq tries the hosts of a multi-host DSN, and the next host's may
    // get the closed one's descriptor number, unknown to the reactor (epoll dropped the closed
    // one): register the descriptor afresh after each step, or the wait for that host never ends.
    if (socket_.is_open()) socket_.release();
  }
  if (PQsetnonblocking(conn_.get(), 1) != 0) Fail("cannot make the connection non-blocking");
  // The walsender sends each pgoutput message as a TLS record of its own. Without read-ahead
  // OpenSSL reads a record in two recv() calls (header, body) and libpq takes one record per
  // PQconsumeInput, so every message cost two reads and a reactor wait: three times the CPU per
  // 1-row transaction (bench/README.md). With it one recv() fills OpenSSL's 16 KiB buffer, and
  // AwaitSocket serves the buffered records first. Only on this connection, which waits through
  // AwaitSocket alone: libpq's own blocking waits count decrypted bytes only and would sleep on
  // a buffered record.
  if (mode_ == Mode::kReplication) {
    if (auto* ssl = static_cast<SSL*>(PQsslStruct(conn_.get(), "OpenSSL"))) SSL_set_read_ahead(ssl, 1);
  }
  // Debug: a standby reconnects every few seconds; "streaming from slot" is the info line.
  base::RelayLog().debug("connected to PostgreSQL {} (server {}{})", PQhost(conn_.get()),
                         PQserverVersion(conn_.get()), mode_ == Mode::kReplication ? ", replication" : "");
}

awaitable<PgResultHandle> PgConnection::Execute(const std::string& sql, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
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
                           sqlstate::IsRetryable(sqlstate), sqlstate);
  }
  co_return last;
}

std::string PgConnection::Escape(Quoting quoting, const std::string& text) {
  PgBufferHandle escaped(quoting == Quoting::kLiteral ? PQescapeLiteral(conn_.get(), text.data(), text.size())
                                                      : PQescapeIdentifier(conn_.get(), text.data(), text.size()));
  if (!escaped) Fail("cannot quote " + text);
  return escaped.get();
}

}  // namespace outbox_relay::pg
