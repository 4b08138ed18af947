#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <variant>

#include "config/config.hpp"
#include "outbox/event_mapper.hpp"
#include "relay/pg/pgoutput.hpp"

namespace outbox_relay::pipeline {

// The pipeline counts in the source's positions and clock.
using pg::Lsn;
using pg::PgTimestamp;

/// An outbox row (or captured message) that cannot be published, with its transaction's
/// commit LSN filled in; the message names table, row id, commit LSN and reason.
class PoisonEventError : public outbox::PoisonRowError {
 public:
  using outbox::PoisonRowError::PoisonRowError;
};

/// Turns decoded pgoutput messages into the relay's steps: a transaction begins, an outbox
/// event is ready (an outbox table insert, or a transactional logical message with a captured
/// prefix), a transaction commits. Keeps the relation cache. Events are emitted as
/// their rows arrive, not at commit, so memory does not grow with transaction size
/// (pgoutput v1 only sends committed transactions). Pure.
class TransactionAssembler {
 public:
  struct BeginStep {
    Lsn commit_lsn;
    PgTimestamp commit_time = 0;
  };
  struct EventStep {
    outbox::OutboxEvent event;
  };
  struct CommitStep {
    Lsn end_lsn;
    PgTimestamp commit_time = 0;
  };
  using Step = std::variant<std::monostate, BeginStep, EventStep, CommitStep>;

  /// `exchange`: as for outbox::EventMapper.
  explicit TransactionAssembler(const config::OutboxConfig& config, std::string_view exchange = {});

  /// Throws DecodeError on a protocol violation (insert for an unknown relation, unchanged
  /// TOAST in an outbox row), PoisonEventError for a row that cannot become an event, which
  /// includes every row of an outbox relation that lacks a configured column. The assembler
  /// stays usable after a PoisonEventError: the next message continues the transaction.
  Step Apply(const pg::PgOutputMessage& message);

  /// The server re-sends Relation messages on a new connection; forget the old ones.
  void Reset();

 private:
  struct Relation {
    std::string qualified_name;
    std::optional<outbox::OutboxRowLayout> outbox_layout;  // set for outbox tables that fit the config
    outbox::EventOrigin origin;
    // An outbox table lacking a column the configuration needs: why, and where the id and
    // payload are, to name and dead-letter each of its rows.
    std::string missing_column;
    std::optional<std::size_t> id_column;
    std::optional<std::size_t> payload_column;
  };

  Step OnRelation(const pg::RelationMessage& message);
  Step OnInsert(const pg::InsertMessage& message);
  Step OnMessage(const pg::LogicalMessage& message);
  [[noreturn]] void ThrowMissingColumn(const Relation& relation, const pg::InsertMessage& message) const;
  // Maps one row; a poison row becomes a PoisonEventError with the commit LSN.
  EventStep MakeEvent(const outbox::OutboxRowValues& row, const outbox::EventOrigin& origin) const;

  const config::OutboxConfig& config_;
  outbox::EventMapper mapper_;
  std::unordered_map<std::uint32_t, Relation> relations_;
  // Formatted once per transaction, copied into each event.
  std::string commit_lsn_text_;
  std::string commit_time_text_;
};

/// A PostgreSQL timestamp as RFC 3339 UTC with microseconds: "2024-01-01T00:00:00.123456Z".
std::string FormatPgTimestamp(PgTimestamp timestamp);

}  // namespace outbox_relay::pipeline
