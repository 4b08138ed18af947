#include "relay/pg/replication_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <ratio>

#include <fmt/format.h>

#include "relay/pg/byte_reader.hpp"

namespace outbox_relay::pg {

namespace {

using detail::ByteReader;
using detail::DescribeByte;

// Seconds from the Unix epoch (system_clock's, guaranteed since C++20) to 2000-01-01 UTC.
constexpr std::int64_t kPgEpochUnixMicros = std::int64_t{946'684'800} * 1'000'000;

// A strictly finer clock than microseconds covers fewer microseconds than int64 can hold,
// so shifting by the epoch offset in ToPgTimestamp cannot overflow.
static_assert(std::ratio_less_v<std::chrono::system_clock::period, std::micro>);

using ClockDuration = std::chrono::system_clock::duration;
constexpr std::int64_t kMaxClockMicros =
    std::chrono::duration_cast<std::chrono::microseconds>(ClockDuration::max()).count();
constexpr std::int64_t kMinClockMicros =
    std::chrono::duration_cast<std::chrono::microseconds>(ClockDuration::min()).count();

XLogData DecodeXLogData(ByteReader& reader) {
  XLogData data;
  data.wal_start = reader.ReadLsn("WAL start");
  data.wal_end = reader.ReadLsn("WAL end");
  data.send_time = reader.ReadInt64("send time");
  // An empty payload is passed on: it is the pgoutput decoder's to reject, with its own context.
  data.payload = reader.ReadRest();
  return data;
}

PrimaryKeepalive DecodeKeepalive(ByteReader& reader) {
  PrimaryKeepalive keepalive;
  keepalive.wal_end = reader.ReadLsn("WAL end");
  keepalive.send_time = reader.ReadInt64("send time");
  keepalive.reply_requested = reader.ReadUint8("reply requested") != 0;
  reader.ExpectEnd();
  return keepalive;
}

}  // namespace

ServerCopyData DecodeServerCopyData(std::string_view bytes) {
  ByteReader reader(bytes, "replication CopyData");
  const std::uint8_t tag = reader.ReadUint8("message tag");
  switch (tag) {
    case 'w':
      reader.SetContext("replication XLogData");
      return DecodeXLogData(reader);
    case 'k':
      reader.SetContext("replication keepalive");
      return DecodeKeepalive(reader);
    default:
      reader.Fail(fmt::format("unknown message tag {}", DescribeByte(tag)));
  }
}

std::array<char, kStandbyStatusSize> EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, PgTimestamp now,
                                                         bool reply_requested) {
  std::array<char, kStandbyStatusSize> encoded{};
  std::size_t position = 0;
  const auto put64 = [&](std::uint64_t value) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      encoded[position++] = static_cast<char>((value >> shift) & 0xFF);
    }
  };
  encoded[position++] = 'r';
  put64(write.Value());
  put64(flush.Value());
  put64(apply.Value());
  put64(static_cast<std::uint64_t>(now));
  encoded[position++] = reply_requested ? 1 : 0;
  return encoded;
}

PgTimestamp ToPgTimestamp(std::chrono::system_clock::time_point time) {
  // floor, not duration_cast: truncating toward zero would round pre-1970 instants up.
  const auto unix_micros = std::chrono::floor<std::chrono::microseconds>(time.time_since_epoch());
  return unix_micros.count() - kPgEpochUnixMicros;
}

double SecondsSince(PgTimestamp earlier, std::chrono::system_clock::time_point now) {
  // In double: the difference of two int64 timestamps may not fit one.
  return (static_cast<double>(ToPgTimestamp(now)) - static_cast<double>(earlier)) / 1e6;
}

std::chrono::system_clock::time_point FromPgTimestamp(PgTimestamp timestamp) {
  // PostgreSQL's ±infinity (INT64_MAX/MIN) and anything else beyond the clock's ±292 years
  // saturate instead of overflowing.
  if (timestamp > kMaxClockMicros - kPgEpochUnixMicros) {
    return std::chrono::system_clock::time_point::max();
  }
  const std::int64_t unix_micros = timestamp + kPgEpochUnixMicros;
  if (unix_micros < kMinClockMicros) return std::chrono::system_clock::time_point::min();
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<ClockDuration>(std::chrono::microseconds(unix_micros)));
}

}  // namespace outbox_relay::pg
