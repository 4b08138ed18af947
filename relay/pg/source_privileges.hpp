#pragma once

// The relay's least-privilege contract with the source database, checked before streaming so
// that a role missing a grant stops the relay with one line saying which, instead of a
// reconnect loop (no REPLICATION) or a setup whose replay cannot read the outbox (no SELECT).

#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace outbox_relay::pg {

/// On a normal connection of its own: the server's major is supported and has what
/// outbox.capture needs; the role may replicate, and has USAGE on the schema plus SELECT on each
/// of outbox.tables (none when only messages are captured; a table that does not exist is not
/// this check's business). "May replicate" is decided by what the role can do: superuser,
/// REPLICATION, membership in RDS's rds_replication, or else a replication connection that
/// answers IDENTIFY_SYSTEM (a provider may grant replication in its own way). Throws a non-retryable
/// ReplicationError with one line naming what is missing and the statements granting it; a
/// connection or query failure is a retryable ReplicationError.
boost::asio::awaitable<void> RequireSourcePrivileges(boost::asio::io_context& io, const config::Config& config);

}  // namespace outbox_relay::pg
