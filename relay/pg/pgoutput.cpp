#include "relay/pg/pgoutput.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "relay/pg/byte_reader.hpp"

namespace outbox_relay::pg {

namespace {

using detail::ByteReader;
using detail::DescribeByte;

// Smallest wire size of one Relation column (flags, empty name's NUL, type oid, typmod) and
// of one tuple value (its kind byte). Reservations are capped by what the remaining bytes
// could possibly hold, so a forged column count cannot make us allocate for 32767 entries.
constexpr std::size_t kMinRelationColumnBytes = 1 + 1 + 4 + 4;
constexpr std::size_t kMinTupleValueBytes = 1;

constexpr std::uint8_t kNewTupleMarker = 'N';
constexpr std::uint8_t kTransactionalFlag = 1;

std::size_t PlausibleCount(std::size_t declared, std::size_t remaining, std::size_t min_bytes) {
  return std::min(declared, remaining / min_bytes);
}

BeginMessage DecodeBegin(ByteReader& reader) {
  BeginMessage message;
  message.final_lsn = reader.ReadLsn("final LSN");
  message.commit_time = reader.ReadInt64("commit timestamp");
  message.xid = reader.ReadUint32("xid");
  return message;
}

CommitMessage DecodeCommit(ByteReader& reader) {
  CommitMessage message;
  message.flags = reader.ReadUint8("flags");
  message.commit_lsn = reader.ReadLsn("commit LSN");
  message.end_lsn = reader.ReadLsn("end LSN");
  message.commit_time = reader.ReadInt64("commit timestamp");
  return message;
}

OriginMessage DecodeOrigin(ByteReader& reader) {
  OriginMessage message;
  message.commit_lsn = reader.ReadLsn("commit LSN");
  message.name = reader.ReadString("origin name");
  return message;
}

RelationMessage DecodeRelation(ByteReader& reader) {
  RelationMessage message;
  message.oid = reader.ReadUint32("relation oid");
  message.schema = reader.ReadString("namespace");
  message.name = reader.ReadString("relation name");
  message.replica_identity = static_cast<char>(reader.ReadUint8("replica identity"));
  const std::size_t column_count = reader.ReadCount16("column count");
  message.columns.reserve(PlausibleCount(column_count, reader.Remaining(), kMinRelationColumnBytes));
  for (std::size_t i = 0; i < column_count; ++i) {
    RelationColumn column;
    column.flags = reader.ReadUint8({"flags of column", i});
    column.name = reader.ReadString({"name of column", i});
    column.type_oid = reader.ReadUint32({"type oid of column", i});
    column.type_modifier = reader.ReadInt32({"type modifier of column", i});
    message.columns.push_back(column);
  }
  return message;
}

TypeMessage DecodeType(ByteReader& reader) {
  TypeMessage message;
  message.oid = reader.ReadUint32("type oid");
  message.schema = reader.ReadString("namespace");
  message.name = reader.ReadString("type name");
  return message;
}

std::vector<TupleValue> DecodeTupleData(ByteReader& reader) {
  const std::size_t value_count = reader.ReadCount16("tuple column count");
  std::vector<TupleValue> values;
  values.reserve(PlausibleCount(value_count, reader.Remaining(), kMinTupleValueBytes));
  for (std::size_t i = 0; i < value_count; ++i) {
    const std::uint8_t kind = reader.ReadUint8({"kind of tuple value", i});
    TupleValue value;
    switch (kind) {
      case static_cast<std::uint8_t>(TupleValueKind::kNull):
      case static_cast<std::uint8_t>(TupleValueKind::kUnchangedToast):
        value.kind = static_cast<TupleValueKind>(kind);
        break;
      case static_cast<std::uint8_t>(TupleValueKind::kText):
      case static_cast<std::uint8_t>(TupleValueKind::kBinary):
        value.kind = static_cast<TupleValueKind>(kind);
        value.data = reader.ReadSizedBytes({"length of tuple value", i}, {"tuple value", i});
        break;
      default:
        // Guessing a layout here would misread every following value; stop instead.
        reader.Fail(fmt::format("unknown kind {} of tuple value {}", DescribeByte(kind), i));
    }
    values.push_back(value);
  }
  return values;
}

InsertMessage DecodeInsert(ByteReader& reader) {
  InsertMessage message;
  message.relation_oid = reader.ReadUint32("relation oid");
  const std::uint8_t marker = reader.ReadUint8("tuple marker");
  if (marker != kNewTupleMarker) {
    reader.Fail(fmt::format("unexpected tuple marker {} (expected {})", DescribeByte(marker),
                            DescribeByte(kNewTupleMarker)));
  }
  message.values = DecodeTupleData(reader);
  return message;
}

LogicalMessage DecodeLogicalMessage(ByteReader& reader) {
  LogicalMessage message;
  // Only bit 0 is defined; the server leaves the others zero, so no need to police them.
  message.transactional = (reader.ReadUint8("flags") & kTransactionalFlag) != 0;
  message.lsn = reader.ReadLsn("LSN");
  message.prefix = reader.ReadString("prefix");
  message.content = reader.ReadSizedBytes("content length", "content");
  return message;
}

template <typename Decoder>
PgOutputMessage DecodeBody(ByteReader& reader, std::string_view context, Decoder decode) {
  reader.SetContext(context);
  PgOutputMessage message = decode(reader);
  reader.ExpectEnd();
  return message;
}

}  // namespace

PgOutputMessage DecodePgOutput(std::string_view bytes) {
  ByteReader reader(bytes, "pgoutput");
  const std::uint8_t tag = reader.ReadUint8("message tag");
  switch (tag) {
    case 'B':
      return DecodeBody(reader, "pgoutput Begin", DecodeBegin);
    case 'C':
      return DecodeBody(reader, "pgoutput Commit", DecodeCommit);
    case 'O':
      return DecodeBody(reader, "pgoutput Origin", DecodeOrigin);
    case 'R':
      return DecodeBody(reader, "pgoutput Relation", DecodeRelation);
    case 'Y':
      return DecodeBody(reader, "pgoutput Type", DecodeType);
    case 'I':
      return DecodeBody(reader, "pgoutput Insert", DecodeInsert);
    case 'M':
      return DecodeBody(reader, "pgoutput Message", DecodeLogicalMessage);
    // The outbox is insert-only, so these carry nothing we relay; their bodies are left
    // unread rather than validated for nothing.
    case 'U':
    case 'D':
    case 'T':
      return IgnoredMessage{static_cast<char>(tag)};
    default:
      // Includes the streaming and two-phase tags of protocol versions 2 and 3, which a
      // version 1 subscription never receives.
      reader.Fail(fmt::format("unknown message tag {}", DescribeByte(tag)));
  }
}

}  // namespace outbox_relay::pg
