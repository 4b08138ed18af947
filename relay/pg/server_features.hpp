#pragma once

// What the relay may ask of a PostgreSQL server, by its version: which pgoutput protocol and
// options, and how CREATE_REPLICATION_SLOT is spelled. Pure: the version comes from the
// connection (PQserverVersion), the commands go to it.

#include <string>
#include <string_view>

#include "relay/pg/lsn.hpp"

namespace outbox_relay::pg {

/// The oldest major the relay streams from.
inline constexpr int kOldestSupportedMajor = 13;

class ServerFeatures {
 public:
  /// `version_num` as libpq reports it: 170002 for 17.2, 130023 for 13.23.
  explicit ServerFeatures(int version_num) : version_num_(version_num) {}

  int Major() const { return version_num_ / 10000; }
  bool Supported() const { return Major() >= kOldestSupportedMajor; }

  /// pgoutput's highest proto_version: 1 on 13; 2 from 14 (streamed transactions), 3 from 15
  /// (two-phase), 4 from 16 (parallel streaming). The relay turns none of those extras on, so
  /// every version sends the messages of version 1; asking for the highest keeps the relay on
  /// the protocol the server's own subscribers use.
  int ProtoVersion() const;

  /// pgoutput's `messages` option (pg_logical_emit_message in the stream): from 14. Tableless
  /// capture (outbox.message_prefixes) and heartbeat messages need it.
  bool LogicalMessages() const { return Major() >= 14; }

  /// CREATE_REPLICATION_SLOT's option list `(SNAPSHOT 'nothing', ...)`: from 15; before, the
  /// keyword NOEXPORT_SNAPSHOT.
  bool SlotOptionList() const { return Major() >= 15; }

  /// Failover slots (CREATE_REPLICATION_SLOT ... FAILOVER, synchronised to standbys): from 17.
  bool FailoverSlots() const { return Major() >= 17; }

  /// Logical decoding on a hot standby: from 16.
  bool DecodingOnStandby() const { return Major() >= 16; }

 private:
  int version_num_;
};

/// START_REPLICATION of `slot` (a quoted identifier) at `start`, with the highest pgoutput
/// protocol, `publications` (a string literal, quoted, holding quoted identifiers) and the
/// messages option where the server has it.
std::string StartReplicationCommand(const ServerFeatures& server, std::string_view slot, Lsn start,
                                    std::string_view publications);

/// CREATE_REPLICATION_SLOT `slot` (a quoted identifier) for pgoutput without an exported
/// snapshot; a failover slot when `failover` and the server has them.
std::string CreateSlotCommand(const ServerFeatures& server, std::string_view slot, bool failover);

}  // namespace outbox_relay::pg
