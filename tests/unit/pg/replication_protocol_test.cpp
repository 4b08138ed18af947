#include "relay/pg/replication_protocol.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/support/byte_builder.hpp"

namespace outbox_relay::pg {
namespace {

using ::outbox_relay::test::ByteBuilder;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr std::uint64_t kWalStart = 0x0000'0016'B374'D848;
constexpr std::uint64_t kWalEnd = 0x0000'0016'B374'D900;
constexpr std::int64_t kSendTime = 757'382'400'000'001;  // 2024-01-01 00:00:00.000001 UTC

std::string XLogDataBytes(std::string_view payload) {
  return ByteBuilder{}.Put8('w').Put64(kWalStart).Put64(kWalEnd).Put64(kSendTime).PutBytes(payload).Build();
}

std::string KeepaliveBytes(std::uint8_t reply) {
  return ByteBuilder{}.Put8('k').Put64(kWalEnd).Put64(kSendTime).Put8(reply).Build();
}

void ExpectFrameDecodeError(std::string_view bytes, std::string_view expected_substring) {
  try {
    DecodeServerCopyData(bytes);
    ADD_FAILURE() << "expected DecodeError containing \"" << expected_substring << "\"";
  } catch (const DecodeError& error) {
    EXPECT_THAT(error.what(), HasSubstr(std::string(expected_substring)));
  }
}

std::chrono::system_clock::time_point Utc(std::chrono::year_month_day day) { return std::chrono::sys_days(day); }

// XLogData's header fields are decoded and the rest is the payload, viewed in place.
TEST(ReplicationProtocolTest, DecodesXLogData) {
  const std::string bytes = XLogDataBytes("B\x01\x02");
  const auto data = std::get<XLogData>(DecodeServerCopyData(bytes));
  EXPECT_EQ(data.wal_start, Lsn(kWalStart));
  EXPECT_EQ(data.wal_end, Lsn(kWalEnd));
  EXPECT_EQ(data.send_time, kSendTime);
  EXPECT_EQ(data.payload, "B\x01\x02");
  EXPECT_EQ(data.payload.data(), bytes.data() + 25);
}

// An XLogData with nothing after its header decodes; judging the payload is pgoutput's job.
TEST(ReplicationProtocolTest, PassesOnEmptyXLogDataPayload) {
  const std::string bytes = XLogDataBytes("");
  EXPECT_TRUE(std::get<XLogData>(DecodeServerCopyData(bytes)).payload.empty());
}

// A keepalive asking for a reply says so.
TEST(ReplicationProtocolTest, DecodesKeepaliveRequestingReply) {
  const std::string bytes = KeepaliveBytes(1);
  const auto keepalive = std::get<PrimaryKeepalive>(DecodeServerCopyData(bytes));
  EXPECT_EQ(keepalive.wal_end, Lsn(kWalEnd));
  EXPECT_EQ(keepalive.send_time, kSendTime);
  EXPECT_TRUE(keepalive.reply_requested);
}

// A keepalive not asking for a reply says so too.
TEST(ReplicationProtocolTest, DecodesKeepaliveWithoutReplyRequest) {
  const std::string bytes = KeepaliveBytes(0);
  const auto keepalive = std::get<PrimaryKeepalive>(DecodeServerCopyData(bytes));
  EXPECT_EQ(keepalive.wal_end, Lsn(kWalEnd));
  EXPECT_FALSE(keepalive.reply_requested);
}

// Every proper prefix of a keepalive, and of an XLogData header, fails cleanly.
TEST(ReplicationProtocolTest, RejectsEveryTruncation) {
  struct Sample {
    std::string bytes;
    std::string context;
  };
  // XLogData's payload is "the rest", so only its 25-byte header can be truncated.
  const std::vector<Sample> samples = {{KeepaliveBytes(1), "replication keepalive: "},
                                       {XLogDataBytes(""), "replication XLogData: "}};
  for (const Sample& sample : samples) {
    ASSERT_NO_THROW(DecodeServerCopyData(sample.bytes));
    for (std::size_t length = 0; length < sample.bytes.size(); ++length) {
      SCOPED_TRACE(sample.context + "truncated to " + std::to_string(length) + " bytes");
      // A fresh buffer of exactly `length` bytes, so ASan catches any read past its end.
      const std::vector<char> prefix(sample.bytes.begin(),
                                     sample.bytes.begin() + static_cast<std::ptrdiff_t>(length));
      try {
        DecodeServerCopyData(std::string_view(prefix.data(), prefix.size()));
        ADD_FAILURE() << "decoded a truncated message";
      } catch (const DecodeError& error) {
        const std::string expected_context = length == 0 ? "replication CopyData: " : sample.context;
        EXPECT_THAT(error.what(), StartsWith(expected_context));
      }
    }
  }
}

// The error names the message and field that ran out.
TEST(ReplicationProtocolTest, TruncationErrorNamesMessageAndField) {
  ExpectFrameDecodeError(KeepaliveBytes(1).substr(0, 4),
                         "replication keepalive: truncated WAL end (need 8 bytes, 3 left)");
  ExpectFrameDecodeError(XLogDataBytes("").substr(0, 20),
                         "replication XLogData: truncated send time (need 8 bytes, 3 left)");
}

// A keepalive has a fixed size; anything after it is malformed.
TEST(ReplicationProtocolTest, RejectsTrailingBytesAfterKeepalive) {
  ExpectFrameDecodeError(KeepaliveBytes(0) + "x", "replication keepalive: 1 trailing byte after the message");
}

// Empty input and tags other than 'w' and 'k' are errors.
TEST(ReplicationProtocolTest, RejectsEmptyInputAndUnknownTag) {
  ExpectFrameDecodeError("", "replication CopyData: truncated message tag (need 1 byte, 0 left)");
  ExpectFrameDecodeError(ByteBuilder{}.Put8('r').Put64(1).Build(),
                         "replication CopyData: unknown message tag 'r'");
  ExpectFrameDecodeError(std::string(1, '\x01'), "unknown message tag 0x01");
}

// The standby status update is 'r', four big-endian Int64s and the reply byte: 34 bytes.
TEST(ReplicationProtocolTest, EncodesStandbyStatusByteExact) {
  const auto encoded = EncodeStandbyStatus(Lsn(0x0102'0304'0506'0708), Lsn(0x0000'0016'B374'D848),
                                           Lsn(0xFFFF'FFFF'FFFF'FFFF), -2, true);
  const std::string expected = ByteBuilder{}
                                   .Put8('r')
                                   .Put64(0x0102'0304'0506'0708)
                                   .Put64(0x0000'0016'B374'D848)
                                   .Put64(0xFFFF'FFFF'FFFF'FFFF)
                                   .Put64(0xFFFF'FFFF'FFFF'FFFE)
                                   .Put8(1)
                                   .Build();
  ASSERT_EQ(expected.size(), kStandbyStatusSize);
  EXPECT_EQ(std::string(encoded.begin(), encoded.end()), expected);
}

// Without a reply request the last byte is zero.
TEST(ReplicationProtocolTest, EncodesStandbyStatusWithoutReplyRequest) {
  const auto encoded = EncodeStandbyStatus(Lsn(1), Lsn(2), Lsn(3), 4, false);
  const std::string expected = ByteBuilder{}.Put8('r').Put64(1).Put64(2).Put64(3).Put64(4).Put8(0).Build();
  EXPECT_EQ(std::string(encoded.begin(), encoded.end()), expected);
}

// PostgreSQL's epoch, 2000-01-01 00:00:00 UTC, is timestamp zero both ways.
TEST(PgTimestampTest, PgEpochIsZero) {
  using namespace std::chrono;
  const auto epoch = Utc(year{2000} / January / 1);
  EXPECT_EQ(ToPgTimestamp(epoch), 0);
  EXPECT_EQ(FromPgTimestamp(0), epoch);
}

// A known instant converts to its microsecond count, and back.
TEST(PgTimestampTest, ConvertsKnownInstant) {
  using namespace std::chrono;
  // 24 years, 6 of them leap: 8766 days.
  const auto new_year_2024 = Utc(year{2024} / January / 1) + 123'456us;
  EXPECT_EQ(ToPgTimestamp(new_year_2024), 757'382'400'123'456);
  EXPECT_EQ(FromPgTimestamp(757'382'400'123'456), new_year_2024);
}

// Instants before 2000, and before 1970, are negative and survive the round trip.
TEST(PgTimestampTest, RoundTripsAcrossBothEpochs) {
  using namespace std::chrono;
  EXPECT_EQ(ToPgTimestamp(Utc(year{2000} / January / 1) - 1us), -1);
  EXPECT_EQ(ToPgTimestamp(Utc(year{1970} / January / 1)), -946'684'800'000'000);
  for (const PgTimestamp timestamp :
       {PgTimestamp{-5'000'000'000'000'001}, PgTimestamp{-946'684'800'000'001}, PgTimestamp{-1}, PgTimestamp{0},
        PgTimestamp{1}, kSendTime, PgTimestamp{4'000'000'000'000'000}}) {
    EXPECT_EQ(ToPgTimestamp(FromPgTimestamp(timestamp)), timestamp);
  }
  const auto now = time_point_cast<microseconds>(system_clock::now());
  EXPECT_EQ(FromPgTimestamp(ToPgTimestamp(now)), now);
}

// Sub-microsecond precision rounds down, also before 1970, so no instant moves forward.
TEST(PgTimestampTest, FloorsSubMicrosecondPrecision) {
  using namespace std::chrono;
  const auto epoch = Utc(year{2000} / January / 1);
  EXPECT_EQ(ToPgTimestamp(epoch + 999ns), 0);
  EXPECT_EQ(ToPgTimestamp(epoch - 1ns), -1);
  EXPECT_EQ(ToPgTimestamp(system_clock::time_point(-1ns)), -946'684'800'000'001);
}

// PostgreSQL's ±infinity and other out-of-range values saturate instead of overflowing.
TEST(PgTimestampTest, SaturatesBeyondTheClockRange) {
  using std::chrono::system_clock;
  constexpr PgTimestamp kInfinity = std::numeric_limits<PgTimestamp>::max();
  constexpr PgTimestamp kMinusInfinity = std::numeric_limits<PgTimestamp>::min();
  EXPECT_EQ(FromPgTimestamp(kInfinity), system_clock::time_point::max());
  EXPECT_EQ(FromPgTimestamp(kMinusInfinity), system_clock::time_point::min());
  EXPECT_GT(FromPgTimestamp(8'000'000'000'000'000), Utc(std::chrono::year{2200} / 1 / 1));
  EXPECT_NO_THROW(ToPgTimestamp(system_clock::time_point::max()));
  EXPECT_NO_THROW(ToPgTimestamp(system_clock::time_point::min()));
}

// The age of a commit, from any timestamp the server may send (the fuzzer found a far-past one
// overflowing the subtraction of time points); exact to the microsecond for real ones.
TEST(PgTimestampTest, SecondsSinceNeverOverflows) {
  using namespace std::chrono;
  const auto now = Utc(year{2024} / January / 1) + 1500ms;
  EXPECT_DOUBLE_EQ(SecondsSince(757'382'400'000'000, now), 1.5);
  EXPECT_DOUBLE_EQ(SecondsSince(757'382'403'000'000, now), -1.5);
  EXPECT_GT(SecondsSince(std::numeric_limits<PgTimestamp>::min(), now), 9e12);
  EXPECT_LT(SecondsSince(std::numeric_limits<PgTimestamp>::max(), now), -9e12);
}

}  // namespace
}  // namespace outbox_relay::pg
