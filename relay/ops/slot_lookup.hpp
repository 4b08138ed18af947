#pragma once

// What `check` and `init` look up about the configured replication slot: its row in
// pg_replication_slots, whether the relay can use it, and what outbox.relay_slots (V3)
// remembers of it.

#include <optional>
#include <string>

#include "base/error.hpp"
#include "relay/ops/database.hpp"
#include "relay/pg/replication_stream.hpp"

namespace outbox_relay::ops::detail {

/// A slot's row in pg_replication_slots.
struct SlotRow {
  std::string plugin;
  std::string slot_type;
  std::string database;
  bool active = false;
  std::optional<std::string> active_pid;
  std::optional<std::string> wal_status;
};

/// The slot named `slot`; nullopt when there is none.
base::Result<std::optional<SlotRow>> FindSlot(Database& db, const std::string& slot);

/// Why the relay cannot use a slot, and what to do about it.
struct SlotProblem {
  std::string problem;
  std::string hint;
};

/// Why the slot `row` (named `slot`) does not fit a relay connected to `database`: nullopt if
/// it fits (pgoutput, logical, this database, its WAL kept). Pure.
std::optional<SlotProblem> SlotUnusable(const SlotRow& row, const std::string& slot, const std::string& database);

/// What outbox.relay_slots remembers of `slot`: nullopt when it never recorded it, or when the
/// table is missing or the role may not read it (no evidence either way).
base::Result<std::optional<pg::SlotRecord>> FindSlotRecord(Database& db, const std::string& slot);

}  // namespace outbox_relay::ops::detail
