#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "config/config.hpp"
#include "relay/pg/pg_handles.hpp"

namespace outbox_relay::pg {

/// A failure of a PostgreSQL connection. `retryable()` is false for problems reconnecting
/// cannot fix (wrong slot plugin, missing objects, bad credentials).
class ReplicationError : public std::runtime_error {
 public:
  ReplicationError(const std::string& message, bool retryable, std::string sqlstate = {})
      : std::runtime_error(message), retryable_(retryable), sqlstate_(std::move(sqlstate)) {}
  bool retryable() const { return retryable_; }
  /// The server's SQLSTATE when a statement failed; empty for connection problems.
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  bool retryable_;
  std::string sqlstate_;
};

/// One libpq connection driven by the io_context: non-blocking connect and queries, every wait
/// with a deadline. Used from the io_context thread only. Throws ReplicationError.
class PgConnection {
 public:
  enum class Mode { kNormal, kReplication };
  enum class Wait { kRead, kWrite };
  enum class Quoting { kLiteral, kIdentifier };

  static constexpr std::chrono::milliseconds kQueryTimeout{60000};

  /// Connects with the source's DSN and its TLS / password settings (see PgConnectParams).
  PgConnection(boost::asio::io_context& io, const config::SourceConfig& source, Mode mode);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  boost::asio::awaitable<void> Connect();
  /// Runs one simple-protocol statement; returns its last result, or the COPY BOTH result.
  boost::asio::awaitable<PgResultHandle> Execute(const std::string& sql,
                                                 std::chrono::milliseconds timeout = kQueryTimeout);
  /// Waits for the socket; false when `deadline` passed and `timeout_is_error` is off.
  /// Returns true at once for a read wait after CancelReads().
  boost::asio::awaitable<bool> AwaitSocket(Wait wait, std::chrono::steady_clock::time_point deadline,
                                           bool timeout_is_error = true);
  /// Writes out what libpq has buffered.
  boost::asio::awaitable<void> FlushOutput(std::chrono::steady_clock::time_point deadline);
  std::string Escape(Quoting quoting, const std::string& text);
  [[noreturn]] void Fail(const std::string& what, bool retryable = true);

  /// Ends pending and future read waits (shutdown); Close() resets it.
  void CancelReads();
  bool ReadsCancelled() const { return reads_cancelled_; }
  void Close();
  bool IsOpen() const { return conn_ != nullptr; }
  pg_conn* Native() const { return conn_.get(); }

 private:
  /// Whether libpq can read on without the socket: OpenSSL holds a whole record (read-ahead).
  bool TlsRecordBuffered() const;

  boost::asio::io_context& io_;
  config::SourceConfig source_;
  Mode mode_;
  PgConnHandle conn_;
  boost::asio::posix::stream_descriptor socket_;
  bool reads_cancelled_ = false;
};

}  // namespace outbox_relay::pg
