#include "relay/ops/replay.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/logging.hpp"
#include "outbox/event_mapper.hpp"
#include "relay/pg/lsn.hpp"
#include "relay/pg/pg_connection.hpp"
#include "relay/pg/sqlstate.hpp"

namespace outbox_relay::ops {

namespace {

using boost::asio::awaitable;

spdlog::logger& Log() { return base::Logger("replay"); }

// Rows fetched per round trip: bounded memory for any range, few round trips for large ones.
constexpr int kFetchRows = 1000;
constexpr std::string_view kCreatedAt = "created_at";
constexpr std::string_view kCreatedLsn = "created_lsn";

std::string BoundColumn(const ReplayBound& bound) {
  return std::string(bound.kind == ReplayBound::Kind::kLsn ? kCreatedLsn : kCreatedAt);
}

std::string BoundLiteral(const ReplayBound& bound,
                         const std::function<std::string(const std::string&)>& quote_literal) {
  return quote_literal(bound.text) + (bound.kind == ReplayBound::Kind::kLsn ? "::pg_lsn" : "::timestamptz");
}

// Waits until every published event of the replay has its delivery report.
class DeliveryWait {
 public:
  explicit DeliveryWait(boost::asio::io_context& io) : timer_(io) {}

  void Published() { ++pending_; }

  void Delivered(const sinks::DeliveryReport& report) {
    if (!report.delivered() && !failure_) failure_ = std::string(report.error());
    if (--pending_ == 0 || failure_) timer_.cancel();
  }

  void Failed(const std::string& reason) {
    if (!failure_) failure_ = reason;
    timer_.cancel();
  }

  awaitable<void> AllDelivered() {
    while (pending_ > 0 && !failure_) {
      timer_.expires_after(std::chrono::hours(1));
      boost::system::error_code ignored;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }
    if (failure_) throw ReplayError("delivery failed: " + *failure_, false);
  }

 private:
  boost::asio::steady_timer timer_;
  std::size_t pending_ = 0;
  std::optional<std::string> failure_;
};

std::vector<std::string> ColumnNames(const PGresult* result) {
  std::vector<std::string> names;
  for (int i = 0; i < PQnfields(result); ++i) names.emplace_back(PQfname(result, i));
  return names;
}

// Replays one table's selected rows; returns how many.
awaitable<std::size_t> ReplayTable(pg::PgConnection& conn, const config::TableName& table,
                                   const outbox::EventMapper& mapper, const config::OutboxColumns& columns,
                                   const ReplayOptions& options, sinks::Sink& sink, DeliveryWait& wait) {
  const auto literal = [&conn](const std::string& text) {
    return conn.Escape(pg::PgConnection::Quoting::kLiteral, text);
  };
  const auto identifier = [&conn](const std::string& text) {
    return conn.Escape(pg::PgConnection::Quoting::kIdentifier, text);
  };
  const std::string qualified = identifier(table.schema) + "." + identifier(table.name);
  const std::vector<std::string> names =
      ColumnNames((co_await conn.Execute("SELECT * FROM " + qualified + " LIMIT 0")).get());

  const outbox::EventOrigin origin = outbox::EventOrigin::Table(table);
  const std::vector<std::string_view> views(names.begin(), names.end());
  outbox::OutboxRowLayout layout;
  try {
    layout = outbox::OutboxRowLayout::Resolve(columns, views, mapper.KeyColumns(origin));
  } catch (const outbox::TableShapeError& error) {
    throw ReplayError(table.Qualified() + ": " + error.what(), true);
  }
  // created_at gives replayed events their time; created_lsn only matters for LSN bounds.
  std::vector<std::pair<std::string_view, std::string>> required = {{kCreatedAt, "replay"}};
  for (const ReplayBound* bound : {&options.from, options.to ? &*options.to : nullptr}) {
    if (bound != nullptr && bound->kind == ReplayBound::Kind::kLsn)
      required.emplace_back(kCreatedLsn, "replay by LSN");
  }
  for (const auto& [column, what] : required) {
    if (std::find(names.begin(), names.end(), column) == names.end()) {
      throw ReplayError(table.Qualified() + " has no " + std::string(column) + " column, which " + what +
                            " needs; apply outbox/sql/V2__publish_message_purge.sql (outbox-relay init)",
                        true);
    }
  }

  co_await conn.Execute("DECLARE replay_rows NO SCROLL CURSOR FOR " +
                        ReplayQuery(table, names, columns.aggregate_type, options, literal, identifier));
  std::size_t count = 0;
  for (;;) {
    const pg::PgResultHandle rows =
        co_await conn.Execute("FETCH " + std::to_string(kFetchRows) + " FROM replay_rows");
    const int row_count = PQntuples(rows.get());
    const int time_column = static_cast<int>(names.size());
    for (int r = 0; r < row_count; ++r) {
      const auto text = [&rows, r](std::size_t column) -> std::optional<std::string_view> {
        const int c = static_cast<int>(column);
        if (PQgetisnull(rows.get(), r, c)) return std::nullopt;
        return std::string_view(PQgetvalue(rows.get(), r, c),
                                static_cast<std::size_t>(PQgetlength(rows.get(), r, c)));
      };
      const outbox::OutboxRowValues row = layout.Values(text);
      outbox::OutboxEvent event;
      try {
        event = mapper.Map(row, origin);
      } catch (const outbox::PoisonRowError& error) {
        throw ReplayError("row " + std::string(row.id.value_or("NULL")) + " of " + table.Qualified() +
                              " cannot be published: " + error.what(),
                          false);
      }
      event.time = std::string(text(static_cast<std::size_t>(time_column)).value_or(""));
      event.replay = options.replay_id;
      try {
        sink.Publish(event, count);
      } catch (const sinks::SinkError& error) {
        throw ReplayError(std::string("cannot publish: ") + error.what(), false);
      }
      wait.Published();
      ++count;
    }
    // One batch in flight at a time keeps memory bounded whatever the range.
    co_await wait.AllDelivered();
    if (row_count < kFetchRows) break;
  }
  co_await conn.Execute("CLOSE replay_rows");
  co_return count;
}

}  // namespace

ReplayBound ParseReplayBound(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("is empty; give a timestamp or an LSN such as 0/16B3748");
  if (pg::Lsn::Parse(text)) return {ReplayBound::Kind::kLsn, std::string(text)};
  return {ReplayBound::Kind::kTimestamp, std::string(text)};
}

std::string ReplayQuery(const config::TableName& table, const std::vector<std::string>& columns,
                        const std::string& aggregate_type_column, const ReplayOptions& options,
                        const std::function<std::string(const std::string&)>& quote_literal,
                        const std::function<std::string(const std::string&)>& quote_identifier) {
  std::string sql = "SELECT ";
  for (const std::string& column : columns) sql += quote_identifier(column) + "::text, ";
  sql += "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM " +
         quote_identifier(table.schema) + "." + quote_identifier(table.name) + " WHERE " +
         BoundColumn(options.from) + " >= " + BoundLiteral(options.from, quote_literal);
  // Half-open, so that a position read from pg_current_wal_insert_lsn() between two writes
  // splits them cleanly: the next row's created_lsn can equal it.
  if (options.to) sql += " AND " + BoundColumn(*options.to) + " < " + BoundLiteral(*options.to, quote_literal);
  if (options.aggregate_type) {
    // Compared as text, the way the mapper and the routing rules see it.
    sql +=
        " AND " + quote_identifier(aggregate_type_column) + "::text = " + quote_literal(*options.aggregate_type);
  }
  // Rows written before created_lsn existed have none; they come first, by time.
  const bool has_lsn = std::find(columns.begin(), columns.end(), kCreatedLsn) != columns.end();
  sql += has_lsn ? " ORDER BY created_lsn NULLS FIRST, created_at" : " ORDER BY created_at";
  return sql;
}

awaitable<std::size_t> Replay(boost::asio::io_context& io, const config::Config& config, sinks::Sink& sink,
                              const ReplayOptions& options) {
  if (!config.outbox.CapturesTables()) {
    throw ReplayError(
        "outbox.capture is messages: logical messages live only in WAL, so there are no "
        "rows to replay",
        true);
  }
  DeliveryWait wait(io);
  sink.SetHandlers({[&wait](const sinks::DeliveryReport& report) { wait.Delivered(report); },
                    [&wait](const std::string& reason) { wait.Failed(reason); }});
  const outbox::EventMapper mapper(config.outbox, config::EventExchange(config));
  pg::PgConnection conn(io, config.source, pg::PgConnection::Mode::kNormal);
  std::size_t total = 0;
  try {
    co_await conn.Connect();
    // One snapshot for every table: the replay sees a single consistent state.
    co_await conn.Execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    for (const config::TableName& table : config.outbox.tables) {
      const std::size_t count =
          co_await ReplayTable(conn, table, mapper, config.outbox.columns, options, sink, wait);
      Log().info("replayed {} events from {}", count, table.Qualified());
      total += count;
    }
    co_await conn.Execute("COMMIT");
  } catch (const pg::ReplicationError& error) {
    // 22007/22008/22P02: the server could not read a bound as a timestamp or LSN.
    throw ReplayError(error.what(), pg::sqlstate::InClass(error.sqlstate(), pg::sqlstate::kClassDataException));
  }
  co_return total;
}

}  // namespace outbox_relay::ops
