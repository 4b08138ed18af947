#pragma once

// The streaming replication sub-protocol carried in CopyData during START_REPLICATION:
// server → client XLogData ('w') and primary keepalive ('k'); client → server standby
// status update ('r'). Pure: no I/O.

#include <array>
#include <chrono>
#include <string_view>
#include <variant>

#include "relay/pg/lsn.hpp"
#include "relay/pg/pgoutput.hpp"

namespace outbox_relay::pg {

struct XLogData {
  Lsn wal_start;
  Lsn wal_end;
  PgTimestamp send_time = 0;
  std::string_view payload;  // one pgoutput message; view into the CopyData buffer
};

struct PrimaryKeepalive {
  Lsn wal_end;
  PgTimestamp send_time = 0;
  bool reply_requested = false;
};

using ServerCopyData = std::variant<XLogData, PrimaryKeepalive>;

/// Decodes one CopyData payload from the server. Throws DecodeError on truncation or an
/// unknown tag.
ServerCopyData DecodeServerCopyData(std::string_view bytes);

inline constexpr std::size_t kStandbyStatusSize = 34;

/// Encodes a standby status update ('r'): the positions received, flushed, applied, the
/// client's clock, and whether the server should reply at once.
std::array<char, kStandbyStatusSize> EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, PgTimestamp now,
                                                         bool reply_requested);

/// Converts between PostgreSQL timestamps and the system clock.
PgTimestamp ToPgTimestamp(std::chrono::system_clock::time_point time);
std::chrono::system_clock::time_point FromPgTimestamp(PgTimestamp timestamp);

/// Seconds from `earlier` to `now` (negative if `earlier` is later), for any timestamp a server
/// may send: a corrupt or infinite one gives a huge age rather than an overflow.
double SecondsSince(PgTimestamp earlier, std::chrono::system_clock::time_point now);

}  // namespace outbox_relay::pg
