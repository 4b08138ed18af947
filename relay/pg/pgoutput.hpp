#pragma once

// pgoutput logical replication messages (protocol version 1, PostgreSQL 15) and their decoder.
// Pure: bytes in, messages out, no I/O. Decoded messages hold string_views into the input
// buffer, so they are valid only while that buffer lives.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "relay/pg/lsn.hpp"

namespace outbox_relay::pg {

/// Microseconds since 2000-01-01 00:00:00 UTC, PostgreSQL's timestamp epoch.
using PgTimestamp = std::int64_t;

/// Thrown on truncated or malformed input; the message names the message type and field.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BeginMessage {
  Lsn final_lsn;  // LSN of the transaction's commit record
  PgTimestamp commit_time = 0;
  std::uint32_t xid = 0;
};

struct CommitMessage {
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;  // end of the commit record: what the client confirms once the transaction is delivered
  PgTimestamp commit_time = 0;
};

struct OriginMessage {
  Lsn commit_lsn;
  std::string_view name;
};

struct RelationColumn {
  std::uint8_t flags = 0;  // 1 = part of the key
  std::string_view name;
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = 0;
};

struct RelationMessage {
  std::uint32_t oid = 0;
  std::string_view schema;  // empty for pg_catalog, as the server sends it
  std::string_view name;
  char replica_identity = 'd';
  std::vector<RelationColumn> columns;
};

struct TypeMessage {
  std::uint32_t oid = 0;
  std::string_view schema;
  std::string_view name;
};

enum class TupleValueKind : char {
  kNull = 'n',
  kUnchangedToast = 'u',  // value not sent; never to be read as NULL
  kText = 't',
  kBinary = 'b',
};

struct TupleValue {
  TupleValueKind kind = TupleValueKind::kNull;
  std::string_view data;  // empty unless kText or kBinary
};

struct InsertMessage {
  std::uint32_t relation_oid = 0;
  std::vector<TupleValue> values;
};

struct LogicalMessage {
  bool transactional = false;
  Lsn lsn;
  std::string_view prefix;
  std::string_view content;
};

/// Update, Delete and Truncate: recognised and skipped (the outbox is insert-only).
struct IgnoredMessage {
  char tag = 0;
};

using PgOutputMessage = std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                                     InsertMessage, LogicalMessage, IgnoredMessage>;

/// Decodes one pgoutput message (the payload of one XLogData). Throws DecodeError on
/// truncated input, trailing bytes, or an unknown message tag; never reads past `bytes`.
PgOutputMessage DecodePgOutput(std::string_view bytes);

}  // namespace outbox_relay::pg
