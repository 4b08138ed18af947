#pragma once

#include "config/config.hpp"
#include "relay/pg/replication_stream.hpp"
#include "relay/pipeline/change_source.hpp"

namespace outbox_relay::pipeline {

/// The ChangeSource of a running relay: pg::ReplicationStream on libpq, with the privilege
/// check before connecting. Its ReplicationErrors become base::Errors; SQLSTATE 55006 (object
/// in use) at START_REPLICATION means another relay holds the slot.
class PgChangeSource final : public ChangeSource {
 public:
  PgChangeSource(boost::asio::io_context& io, const config::Config& config);

  boost::asio::awaitable<base::Result<void>> Connect() override;
  boost::asio::awaitable<base::Result<pg::Lsn>> EnsureSlot() override;
  boost::asio::awaitable<base::Result<StartOutcome>> Start(pg::Lsn start) override;
  boost::asio::awaitable<base::Result<std::optional<ChangeData>>> Read(TimePoint deadline) override;
  void CancelRead() override { stream_.CancelRead(); }
  boost::asio::awaitable<base::Result<void>> SendStatus(pg::Lsn received, pg::Lsn flushed) override;
  boost::asio::awaitable<base::Result<void>> Finish() override;
  void Close() override { stream_.Close(); }
  bool IsOpen() const override { return stream_.IsOpen(); }

 private:
  boost::asio::io_context& io_;
  const config::Config& config_;
  pg::ReplicationStream stream_;
};

}  // namespace outbox_relay::pipeline
