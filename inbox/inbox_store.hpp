#pragma once

// The consuming database, as the inbox uses it: one blocking libpq session (the operator
// commands' Database) on the inbox's thread, where the only other wait is the consumer's poll.
// Every batch is one statement and one transaction: inbox.apply_batch() (inbox/sql/V1__inbox.sql).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "config/config.hpp"
#include "relay/ops/database.hpp"

namespace outbox_relay::inbox {

/// What a failure means for the inbox.
enum class FailureKind {
  kTransient,  // try again after a pause: connection lost, serialization failure, deadlock
  kEvent,      // the statement failed on the data: a handler raised, a constraint refused
  kSetup,      // no inbox schema, a missing function or privilege, bad credentials
};

/// The kind of a failure with SQLSTATE `sqlstate` ("" for a lost or refused connection).
FailureKind KindOfFailure(const std::string& sqlstate);

struct ApplyCounts {
  std::int64_t applied = 0;     // a new id with a handler: the handler ran
  std::int64_t duplicates = 0;  // an id seen before: nothing ran
};

class InboxStore {
 public:
  /// Connects lazily: the first call connects, and the call after a failure reconnects.
  InboxStore(config::SourceConfig source, std::string inbox_name);

  /// The stored next offset of each partition of `topic` the inbox has applied records of.
  base::Result<std::map<std::int32_t, std::int64_t>> Positions(const std::string& topic);

  /// inbox.apply_batch() over `batch` (a JSON array) in one transaction.
  base::Result<ApplyCounts> ApplyBatch(const std::string& batch);

  /// Of `functions`, those that do not exist (to_regproc), inbox.apply_batch itself included
  /// when the inbox schema is missing.
  base::Result<std::vector<std::string>> MissingFunctions(const std::vector<std::string>& functions);

 private:
  base::Result<std::vector<ops::detail::Row>> Query(const std::string& sql,
                                                    const std::vector<std::string>& params);

  config::SourceConfig source_;
  std::string inbox_name_;
  std::optional<ops::detail::Database> database_;
};

}  // namespace outbox_relay::inbox
