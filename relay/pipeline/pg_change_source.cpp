#include "relay/pipeline/pg_change_source.hpp"

#include "relay/pg/source_privileges.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::pipeline {

namespace {

using boost::asio::awaitable;

// ReplicationStream reports failures as exceptions; this seam turns them into values.
base::Error ToError(const pg::ReplicationError& error) {
  return error.retryable() ? base::Error::Retryable(error.what()) : base::Error::Fatal(error.what());
}

}  // namespace

PgChangeSource::PgChangeSource(boost::asio::io_context& io, const config::Config& config)
    : io_(io), config_(config), stream_(io, config.source, config::PrimarySource(config)) {}

awaitable<base::Result<void>> PgChangeSource::Connect() {
  try {
    co_await pg::RequireSourcePrivileges(io_, config_);
    co_await stream_.Connect();
  } catch (const pg::ReplicationError& error) {
    co_return ToError(error);
  }
  co_return boost::outcome_v2::success();
}

awaitable<base::Result<pg::Lsn>> PgChangeSource::EnsureSlot() {
  try {
    co_return co_await stream_.EnsureSlot();
  } catch (const pg::ReplicationError& error) {
    co_return ToError(error);
  }
}

awaitable<base::Result<StartOutcome>> PgChangeSource::Start(pg::Lsn start) {
  try {
    co_await stream_.Start(start);
  } catch (const pg::ReplicationError& error) {
    if (error.sqlstate() == pg::sqlstate::kObjectInUse) co_return StartOutcome{error.what()};
    co_return ToError(error);
  }
  co_return StartOutcome{};
}

awaitable<base::Result<std::optional<ChangeData>>> PgChangeSource::Read(TimePoint deadline) {
  try {
    auto data = co_await stream_.Read(deadline);
    if (!data) co_return std::optional<ChangeData>();
    co_return std::optional<ChangeData>(ChangeData(std::move(*data)));
  } catch (const pg::ReplicationError& error) {
    co_return ToError(error);
  }
}

awaitable<base::Result<void>> PgChangeSource::SendStatus(pg::Lsn received, pg::Lsn flushed) {
  try {
    co_await stream_.SendStatus(received, flushed, false);
  } catch (const pg::ReplicationError& error) {
    co_return ToError(error);
  }
  co_return boost::outcome_v2::success();
}

awaitable<base::Result<void>> PgChangeSource::Finish() {
  try {
    co_await stream_.Finish();
  } catch (const pg::ReplicationError& error) {
    co_return ToError(error);
  }
  co_return boost::outcome_v2::success();
}

}  // namespace outbox_relay::pipeline
