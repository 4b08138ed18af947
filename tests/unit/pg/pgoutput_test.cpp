#include "relay/pg/pgoutput.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/support/byte_builder.hpp"

namespace outbox_relay::pg {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::outbox_relay::test::ByteBuilder;

constexpr std::uint64_t kFinalLsn = 0x0000'0016'B374'D848;
constexpr std::uint64_t kEndLsn = 0x0000'0016'B374'D880;
constexpr std::int64_t kCommitTime = 757'382'400'123'456;  // 2024-01-01 00:00:00.123456 UTC

std::string BeginBytes() {
  return ByteBuilder{}.Put8('B').Put64(kFinalLsn).Put64(kCommitTime).Put32(0xDEAD'BEEF).Build();
}

std::string CommitBytes() {
  return ByteBuilder{}.Put8('C').Put8(0).Put64(kFinalLsn).Put64(kEndLsn).Put64(kCommitTime).Build();
}

std::string OriginBytes() {
  return ByteBuilder{}.Put8('O').Put64(kFinalLsn).PutString("pg_16390").Build();
}

std::string RelationBytes() {
  return ByteBuilder{}
      .Put8('R')
      .Put32(16'390)
      .PutString("public")
      .PutString("outbox")
      .Put8('f')
      .Put16(3)
      .Put8(1).PutString("id").Put32(20).Put32(0xFFFF'FFFF)          // bigint, typmod -1
      .Put8(0).PutString("topic").Put32(1043).Put32(259)             // varchar(255)
      .Put8(0).PutString("payload").Put32(3802).Put32(0xFFFF'FFFF)   // jsonb
      .Build();
}

std::string TypeBytes() {
  return ByteBuilder{}.Put8('Y').Put32(16'401).PutString("public").PutString("mood").Build();
}

std::string InsertBytes() {
  return ByteBuilder{}
      .Put8('I')
      .Put32(16'390)
      .Put8('N')
      .Put16(4)
      .Put8('n')
      .Put8('u')
      .Put8('t').Put32(5).PutBytes("hello")
      .Put8('b').Put32(3).PutBytes(std::string_view("\x00\x01\xFF", 3))
      .Build();
}

std::string LogicalMessageBytes(std::uint8_t flags) {
  return ByteBuilder{}
      .Put8('M')
      .Put8(flags)
      .Put64(kFinalLsn)
      .PutString("outbox")
      .Put32(4)
      .PutBytes(std::string_view("a\0b\n", 4))
      .Build();
}

// The fixed part of each message before the field a malformed-input test tampers with.
ByteBuilder InsertHeader() { return std::move(ByteBuilder{}.Put8('I').Put32(1).Put8('N')); }
ByteBuilder RelationHeader() {
  return std::move(ByteBuilder{}.Put8('R').Put32(1).PutString("s").PutString("t").Put8('d'));
}
ByteBuilder MessageHeader() {
  return std::move(ByteBuilder{}.Put8('M').Put8(0).Put64(1).PutString("p"));
}

struct Sample {
  std::string name;
  std::string bytes;
};

// One valid encoding of every message type the decoder reads field by field.
std::vector<Sample> DecodedSamples() {
  return {
      {"Begin", BeginBytes()},
      {"Commit", CommitBytes()},
      {"Origin", OriginBytes()},
      {"Relation", RelationBytes()},
      {"Type", TypeBytes()},
      {"Insert", InsertBytes()},
      {"Message", LogicalMessageBytes(1)},
  };
}

// Checks the message type in the error so a failure points at the right decoder.
void ExpectDecodeError(std::string_view bytes, std::string_view expected_substring) {
  try {
    DecodePgOutput(bytes);
    ADD_FAILURE() << "expected DecodeError containing \"" << expected_substring << "\"";
  } catch (const DecodeError& error) {
    EXPECT_THAT(error.what(), HasSubstr(std::string(expected_substring)));
  }
}

// Begin carries the final LSN, commit time and xid.
TEST(PgOutputDecoderTest, DecodesBegin) {
  const std::string bytes = BeginBytes();
  const auto message = std::get<BeginMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.final_lsn, Lsn(kFinalLsn));
  EXPECT_EQ(message.commit_time, kCommitTime);
  EXPECT_EQ(message.xid, 0xDEAD'BEEFu);
}

// Commit carries flags, commit LSN, end LSN and commit time, in that order.
TEST(PgOutputDecoderTest, DecodesCommit) {
  const std::string bytes = CommitBytes();
  const auto message = std::get<CommitMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.flags, 0);
  EXPECT_EQ(message.commit_lsn, Lsn(kFinalLsn));
  EXPECT_EQ(message.end_lsn, Lsn(kEndLsn));
  EXPECT_EQ(message.commit_time, kCommitTime);
}

// Origin carries the origin's commit LSN and its name.
TEST(PgOutputDecoderTest, DecodesOrigin) {
  const std::string bytes = OriginBytes();
  const auto message = std::get<OriginMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.commit_lsn, Lsn(kFinalLsn));
  EXPECT_EQ(message.name, "pg_16390");
}

// Relation carries the table identity and every column's flags, name, type and typmod.
TEST(PgOutputDecoderTest, DecodesRelationWithColumns) {
  const std::string bytes = RelationBytes();
  const auto message = std::get<RelationMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.oid, 16'390u);
  EXPECT_EQ(message.schema, "public");
  EXPECT_EQ(message.name, "outbox");
  EXPECT_EQ(message.replica_identity, 'f');
  ASSERT_EQ(message.columns.size(), 3u);
  EXPECT_EQ(message.columns[0].flags, 1);
  EXPECT_EQ(message.columns[0].name, "id");
  EXPECT_EQ(message.columns[0].type_oid, 20u);
  EXPECT_EQ(message.columns[0].type_modifier, -1);
  EXPECT_EQ(message.columns[1].flags, 0);
  EXPECT_EQ(message.columns[1].name, "topic");
  EXPECT_EQ(message.columns[1].type_oid, 1043u);
  EXPECT_EQ(message.columns[1].type_modifier, 259);
  EXPECT_EQ(message.columns[2].flags, 0);
  EXPECT_EQ(message.columns[2].name, "payload");
  EXPECT_EQ(message.columns[2].type_oid, 3802u);
  EXPECT_EQ(message.columns[2].type_modifier, -1);
}

// A pg_catalog relation arrives with an empty namespace, and a table may have no columns.
TEST(PgOutputDecoderTest, DecodesRelationWithEmptyNamespaceAndNoColumns) {
  const std::string bytes =
      ByteBuilder{}.Put8('R').Put32(1259).PutString("").PutString("pg_class").Put8('n').Put16(0)
          .Build();
  const auto message = std::get<RelationMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.oid, 1259u);
  EXPECT_EQ(message.schema, "");
  EXPECT_EQ(message.name, "pg_class");
  EXPECT_EQ(message.replica_identity, 'n');
  EXPECT_TRUE(message.columns.empty());
}

// Type carries the type's oid, namespace and name.
TEST(PgOutputDecoderTest, DecodesType) {
  const std::string bytes = TypeBytes();
  const auto message = std::get<TypeMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.oid, 16'401u);
  EXPECT_EQ(message.schema, "public");
  EXPECT_EQ(message.name, "mood");
}

// NULL and unchanged-TOAST values stay distinct kinds, and neither carries data.
TEST(PgOutputDecoderTest, DecodesInsertWithNullAndUnchangedToastValues) {
  const std::string bytes = InsertBytes();
  const auto message = std::get<InsertMessage>(DecodePgOutput(bytes));
  EXPECT_EQ(message.relation_oid, 16'390u);
  ASSERT_EQ(message.values.size(), 4u);
  EXPECT_EQ(message.values[0].kind, TupleValueKind::kNull);
  EXPECT_TRUE(message.values[0].data.empty());
  EXPECT_EQ(message.values[1].kind, TupleValueKind::kUnchangedToast);
  EXPECT_TRUE(message.values[1].data.empty());
}

// Text and binary values keep their exact bytes, embedded NULs and empty values included.
TEST(PgOutputDecoderTest, DecodesInsertWithTextAndBinaryValues) {
  const std::string bytes = InsertBytes();
  const auto message = std::get<InsertMessage>(DecodePgOutput(bytes));
  ASSERT_EQ(message.values.size(), 4u);
  EXPECT_EQ(message.values[2].kind, TupleValueKind::kText);
  EXPECT_EQ(message.values[2].data, "hello");
  EXPECT_EQ(message.values[3].kind, TupleValueKind::kBinary);
  EXPECT_EQ(message.values[3].data, std::string_view("\x00\x01\xFF", 3));

  const std::string empty_text =
      ByteBuilder{}.Put8('I').Put32(7).Put8('N').Put16(1).Put8('t').Put32(0).Build();
  const auto empty = std::get<InsertMessage>(DecodePgOutput(empty_text));
  ASSERT_EQ(empty.values.size(), 1u);
  EXPECT_EQ(empty.values[0].kind, TupleValueKind::kText);
  EXPECT_EQ(empty.values[0].data, "");
}

// Decoded strings are views into the input, not copies, as the header promises.
TEST(PgOutputDecoderTest, DecodedValuesPointIntoTheInputBuffer) {
  const std::string bytes = InsertBytes();
  const auto message = std::get<InsertMessage>(DecodePgOutput(bytes));
  const char* value_data = message.values[2].data.data();
  EXPECT_GE(value_data, bytes.data());
  EXPECT_LE(value_data + message.values[2].data.size(), bytes.data() + bytes.size());
}

// A transactional logical message (flag 1) keeps its LSN, prefix and raw content.
TEST(PgOutputDecoderTest, DecodesTransactionalLogicalMessage) {
  const std::string bytes = LogicalMessageBytes(1);
  const auto message = std::get<LogicalMessage>(DecodePgOutput(bytes));
  EXPECT_TRUE(message.transactional);
  EXPECT_EQ(message.lsn, Lsn(kFinalLsn));
  EXPECT_EQ(message.prefix, "outbox");
  EXPECT_EQ(message.content, std::string_view("a\0b\n", 4));
}

// A non-transactional logical message (flag 0) is reported as such.
TEST(PgOutputDecoderTest, DecodesNonTransactionalLogicalMessage) {
  const std::string bytes = LogicalMessageBytes(0);
  const auto message = std::get<LogicalMessage>(DecodePgOutput(bytes));
  EXPECT_FALSE(message.transactional);
  EXPECT_EQ(message.prefix, "outbox");
  EXPECT_EQ(message.content, std::string_view("a\0b\n", 4));
}

// Update, Delete and Truncate are recognised by tag alone; their bodies are never read.
TEST(PgOutputDecoderTest, IgnoresUpdateDeleteAndTruncate) {
  for (const char tag : {'U', 'D', 'T'}) {
    SCOPED_TRACE(std::string(1, tag));
    const std::string with_body =
        ByteBuilder{}.Put8(tag).Put32(16'390).PutBytes("anything").Build();
    EXPECT_EQ(std::get<IgnoredMessage>(DecodePgOutput(with_body)).tag, tag);
    const std::string tag_only(1, tag);
    EXPECT_EQ(std::get<IgnoredMessage>(DecodePgOutput(tag_only)).tag, tag);
  }
}

// No bytes at all is not a message.
TEST(PgOutputDecoderTest, RejectsEmptyInput) {
  ExpectDecodeError("", "pgoutput: truncated message tag (need 1 byte, 0 left)");
}

// Tags outside protocol version 1 (including v2 streaming and v3 two-phase ones) are errors.
TEST(PgOutputDecoderTest, RejectsUnknownTag) {
  ExpectDecodeError("Z", "pgoutput: unknown message tag 'Z'");
  ExpectDecodeError(ByteBuilder{}.Put8('S').Put32(1).Build(), "unknown message tag 'S'");
  ExpectDecodeError(ByteBuilder{}.Put8('P').Build(), "unknown message tag 'P'");
  ExpectDecodeError(std::string(1, '\0'), "unknown message tag 0x00");
  ExpectDecodeError(ByteBuilder{}.Put8(0xFF).Build(), "unknown message tag 0xFF");
}

// Every proper prefix of every valid message fails cleanly, naming the message type.
TEST(PgOutputDecoderTest, RejectsEveryTruncationOfEveryMessageType) {
  for (const Sample& sample : DecodedSamples()) {
    ASSERT_NO_THROW(DecodePgOutput(sample.bytes)) << sample.name;
    for (std::size_t length = 0; length < sample.bytes.size(); ++length) {
      SCOPED_TRACE(sample.name + " truncated to " + std::to_string(length) + " bytes");
      // A fresh buffer of exactly `length` bytes, so ASan catches any read past its end.
      const std::vector<char> prefix(sample.bytes.begin(), sample.bytes.begin() + static_cast<std::ptrdiff_t>(length));
      try {
        DecodePgOutput(std::string_view(prefix.data(), prefix.size()));
        ADD_FAILURE() << "decoded a truncated message";
      } catch (const DecodeError& error) {
        const std::string expected_context =
            length == 0 ? "pgoutput: " : "pgoutput " + sample.name + ": ";
        EXPECT_THAT(error.what(), StartsWith(expected_context));
      }
    }
  }
}

// Bytes after a complete message mean the layout was misread, so they are rejected.
TEST(PgOutputDecoderTest, RejectsTrailingBytesAfterEveryMessageType) {
  for (const Sample& sample : DecodedSamples()) {
    SCOPED_TRACE(sample.name);
    ExpectDecodeError(sample.bytes + "x",
                      "pgoutput " + sample.name + ": 1 trailing byte after the message");
    ExpectDecodeError(sample.bytes + std::string(3, '\0'), "3 trailing bytes");
  }
}

// The error pinpoints the message type, the field and the shortfall.
TEST(PgOutputDecoderTest, TruncationErrorNamesMessageTypeAndField) {
  const std::string bytes = ByteBuilder{}
                                .Put8('I')
                                .Put32(16'390)
                                .Put8('N')
                                .Put16(3)
                                .Put8('n')
                                .Put8('u')
                                .Put8('t').Put32(120).PutBytes("{\"id\":")
                                .Build();
  try {
    DecodePgOutput(bytes);
    FAIL() << "expected DecodeError";
  } catch (const DecodeError& error) {
    EXPECT_STREQ(error.what(), "pgoutput Insert: truncated tuple value 2 (need 120 bytes, 6 left)");
  }
  ExpectDecodeError(RelationBytes().substr(0, 15), "pgoutput Relation: unterminated relation name");
}

// A string without its NUL terminator is an error, not a read to the end of the buffer.
TEST(PgOutputDecoderTest, RejectsMissingNulTerminator) {
  ExpectDecodeError(ByteBuilder{}.Put8('O').Put64(kFinalLsn).PutBytes("pg_16390").Build(),
                    "pgoutput Origin: unterminated origin name (no NUL in the 8 bytes left)");
  ExpectDecodeError(ByteBuilder{}.Put8('Y').Put32(1).PutString("public").PutBytes("mood").Build(),
                    "pgoutput Type: unterminated type name");
  ExpectDecodeError(ByteBuilder{}.Put8('R').Put32(1).PutBytes("public").Build(),
                    "pgoutput Relation: unterminated namespace");
  ExpectDecodeError(ByteBuilder{}.Put8('M').Put8(1).Put64(kFinalLsn).PutBytes("outbox").Build(),
                    "pgoutput Message: unterminated prefix");
}

// A declared length beyond the buffer fails as a truncation, before anything is allocated.
TEST(PgOutputDecoderTest, RejectsHugeDeclaredLengths) {
  ExpectDecodeError(InsertHeader().Put16(1).Put8('b').Put32(0x7FFF'FFFF).PutBytes("xy").Build(),
                    "pgoutput Insert: truncated tuple value 0 (need 2147483647 bytes, 2 left)");
  ExpectDecodeError(MessageHeader().Put32(0x7FFF'FFFF).Build(),
                    "pgoutput Message: truncated content (need 2147483647 bytes, 0 left)");
  // 32767 columns declared, one present: fails on the second without reserving for all.
  ExpectDecodeError(InsertHeader().Put16(0x7FFF).Put8('n').Build(),
                    "pgoutput Insert: truncated kind of tuple value 1 (need 1 byte, 0 left)");
  ExpectDecodeError(RelationHeader().Put16(0x7FFF).Build(),
                    "pgoutput Relation: truncated flags of column 0");
}

// Lengths and counts are signed on the wire; negative ones are malformed input.
TEST(PgOutputDecoderTest, RejectsNegativeLengthsAndCounts) {
  ExpectDecodeError(InsertHeader().Put16(1).Put8('t').Put32(0xFFFF'FFFF).Build(),
                    "pgoutput Insert: negative length of tuple value 0 (-1)");
  ExpectDecodeError(MessageHeader().Put32(0x8000'0000).Build(),
                    "pgoutput Message: negative content length (-2147483648)");
  ExpectDecodeError(InsertHeader().Put16(0xFFFF).Build(),
                    "pgoutput Insert: negative tuple column count (-1)");
  ExpectDecodeError(RelationHeader().Put16(0x8000).Build(),
                    "pgoutput Relation: negative column count (-32768)");
}

// A tuple value kind other than n/u/t/b leaves the rest unparseable, so it is an error.
TEST(PgOutputDecoderTest, RejectsUnknownTupleValueKind) {
  ExpectDecodeError(InsertHeader().Put16(2).Put8('n').Put8('x').Build(),
                    "pgoutput Insert: unknown kind 'x' of tuple value 1");
  ExpectDecodeError(InsertHeader().Put16(1).Put8(0).Build(),
                    "pgoutput Insert: unknown kind 0x00 of tuple value 0");
}

// An Insert always carries a new tuple ('N'); any other marker is malformed.
TEST(PgOutputDecoderTest, RejectsInsertWithoutNewTupleMarker) {
  ExpectDecodeError(ByteBuilder{}.Put8('I').Put32(1).Put8('K').Put16(0).Build(),
                    "pgoutput Insert: unexpected tuple marker 'K' (expected 'N')");
}

}  // namespace
}  // namespace outbox_relay::pg
