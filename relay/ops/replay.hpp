#pragma once

// `outbox-relay replay`: publishes outbox rows that are still in their tables again, for a
// consumer that lost data or a new consumer that needs history. It reads the tables with a
// normal (not replication) connection and never touches the slot, so the running relay and
// its WAL position are unaffected.

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "sinks/sink.hpp"

namespace outbox_relay::ops {

/// One end of the replayed range: a WAL position ("16/B374D848", compared with the row's
/// created_lsn, where it was inserted) or a timestamp PostgreSQL can read as timestamptz
/// (compared with created_at). The range is half-open: from <= value < to.
struct ReplayBound {
  enum class Kind { kLsn, kTimestamp };
  Kind kind = Kind::kTimestamp;
  std::string text;
};

/// "X/Y" in hex is an LSN, anything else is left to PostgreSQL as a timestamp. Throws
/// std::invalid_argument for an empty bound. Pure.
ReplayBound ParseReplayBound(std::string_view text);

struct ReplayOptions {
  ReplayBound from;
  std::optional<ReplayBound> to;  // exclusive; nullopt: up to the newest row
  std::optional<std::string> aggregate_type;
  std::string replay_id;  // the `replay` header's value
};

/// The rows the replay selects from one table, ordered as they were inserted. `columns` are
/// the table's columns, all selected as text in that order, then the row's created_at as
/// RFC 3339 UTC. `quote_literal` / `quote_identifier` escape for the server. Pure.
std::string ReplayQuery(const config::TableName& table, const std::vector<std::string>& columns,
                        const std::string& aggregate_type_column, const ReplayOptions& options,
                        const std::function<std::string(const std::string&)>& quote_literal,
                        const std::function<std::string(const std::string&)>& quote_identifier);

/// A replay that cannot start or finish; `config_error` marks a bad argument or table shape
/// (exit 2) rather than a failure on the way (exit 1).
class ReplayError : public std::runtime_error {
 public:
  ReplayError(const std::string& message, bool config_error)
      : std::runtime_error(message), config_error_(config_error) {}
  bool config_error() const { return config_error_; }

 private:
  bool config_error_;
};

/// Publishes every selected row of every captured table through `sink` (in the configured
/// format and routing, with a `replay` header and no `commit_lsn`), waiting until all are
/// delivered. Returns the number of events. Throws ReplayError.
boost::asio::awaitable<std::size_t> Replay(boost::asio::io_context& io, const config::Config& config,
                                           sinks::Sink& sink, const ReplayOptions& options);

}  // namespace outbox_relay::ops
