#pragma once

// The relay's least-privilege contract with the source database, checked before streaming so
// that a role missing a grant stops the relay with one line saying which, instead of a
// reconnect loop (no REPLICATION) or a setup whose replay cannot read the outbox (no SELECT).

#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace outbox_relay::pg {

/// On a normal connection of its own: the role has REPLICATION (or is a superuser), and USAGE
/// on the schema plus SELECT on each of outbox.tables (none when only messages are captured;
/// a table that does not exist is not this check's business). Throws a non-retryable
/// ReplicationError with one line naming what is missing and the statements granting it; a
/// connection or query failure is a retryable ReplicationError.
boost::asio::awaitable<void> RequireSourcePrivileges(boost::asio::io_context& io, const config::Config& config);

}  // namespace outbox_relay::pg
