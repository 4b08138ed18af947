#pragma once

// Bounds-checked big-endian reader shared by the pgoutput and replication protocol decoders.
// Internal to the relay library: the decoders' headers are the public contract.
//
// Every read names the field it is after, so a DecodeError pinpoints where the input went
// wrong ("pgoutput Insert: truncated tuple value 2 (need 120 bytes, 7 left)") without the
// caller wrapping each read in its own check.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "relay/pg/lsn.hpp"
#include "relay/pg/pgoutput.hpp"

namespace outbox_relay::pg::detail {

/// Renders a protocol byte for an error message: printable ones as 'x', others as hex, since
/// an unknown tag may be any byte and a raw control character would garble the log line.
inline std::string DescribeByte(std::uint8_t byte) {
  if (byte >= 0x20 && byte < 0x7f) return fmt::format("'{}'", static_cast<char>(byte));
  return fmt::format("0x{:02X}", byte);
}

/// Names a field in error messages: "prefix" or, for repeated fields, "tuple value 2".
/// The name is only formatted on the error path, so reads stay allocation-free.
class Field {
 public:
  // Implicit so that call sites can pass a literal: reader.ReadInt64("commit timestamp").
  Field(const char* name) : name_(name) {}  // NOLINT(google-explicit-constructor)
  Field(const char* name, std::size_t index) : name_(name), index_(index) {}

  std::string ToString() const { return index_ ? fmt::format("{} {}", name_, *index_) : std::string(name_); }

 private:
  std::string_view name_;
  std::optional<std::size_t> index_;
};

class ByteReader {
 public:
  /// `context` leads every error message ("pgoutput Insert"); it must outlive the reader.
  ByteReader(std::string_view bytes, std::string_view context) : bytes_(bytes), context_(context) {}

  /// Renames the message being read once its tag has told us what it is.
  void SetContext(std::string_view context) { context_ = context; }

  std::size_t Remaining() const { return bytes_.size() - position_; }

  std::uint8_t ReadUint8(const Field& field) { return static_cast<std::uint8_t>(Take(1, field)[0]); }
  std::int16_t ReadInt16(const Field& field) { return static_cast<std::int16_t>(ReadBigEndian(2, field)); }
  std::uint32_t ReadUint32(const Field& field) { return static_cast<std::uint32_t>(ReadBigEndian(4, field)); }
  std::int32_t ReadInt32(const Field& field) { return static_cast<std::int32_t>(ReadBigEndian(4, field)); }
  std::int64_t ReadInt64(const Field& field) { return static_cast<std::int64_t>(ReadBigEndian(8, field)); }
  Lsn ReadLsn(const Field& field) { return Lsn(ReadBigEndian(8, field)); }

  /// An Int16 element count. The wire type is signed, so a negative value is malformed input
  /// rather than a very large count.
  std::size_t ReadCount16(const Field& field) {
    const std::int16_t count = ReadInt16(field);
    if (count < 0) Fail(fmt::format("negative {} ({})", field.ToString(), count));
    return static_cast<std::size_t>(count);
  }

  /// An Int32 length followed by that many bytes. A negative length is rejected here; an
  /// oversize one fails as a truncation of `data_field`, before anything is allocated.
  std::string_view ReadSizedBytes(const Field& length_field, const Field& data_field) {
    const std::int32_t length = ReadInt32(length_field);
    if (length < 0) Fail(fmt::format("negative {} ({})", length_field.ToString(), length));
    return Take(static_cast<std::size_t>(length), data_field);
  }

  /// A NUL-terminated string; the view excludes the terminator.
  std::string_view ReadString(const Field& field) {
    const std::string_view rest = bytes_.substr(position_);
    const std::size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) {
      Fail(fmt::format("unterminated {} (no NUL in the {} {} left)", field.ToString(), rest.size(),
                       Bytes(rest.size())));
    }
    position_ += nul + 1;
    return rest.substr(0, nul);
  }

  std::string_view ReadRest() {
    const std::string_view rest = bytes_.substr(position_);
    position_ = bytes_.size();
    return rest;
  }

  /// Trailing bytes mean we misread the layout (or the server speaks another protocol
  /// version), so they are an error rather than something to skip.
  void ExpectEnd() const {
    if (Remaining() != 0) {
      Fail(fmt::format("{} trailing {} after the message", Remaining(), Bytes(Remaining())));
    }
  }

  [[noreturn]] void Fail(std::string_view problem) const {
    throw DecodeError(fmt::format("{}: {}", context_, problem));
  }

 private:
  static std::string_view Bytes(std::size_t count) { return count == 1 ? "byte" : "bytes"; }

  std::string_view Take(std::size_t count, const Field& field) {
    if (count > Remaining()) {
      Fail(fmt::format("truncated {} (need {} {}, {} left)", field.ToString(), count, Bytes(count), Remaining()));
    }
    const std::string_view taken = bytes_.substr(position_, count);
    position_ += count;
    return taken;
  }

  std::uint64_t ReadBigEndian(std::size_t width, const Field& field) {
    std::uint64_t value = 0;
    for (const char byte : Take(width, field)) {
      value = (value << 8) | static_cast<unsigned char>(byte);
    }
    return value;
  }

  std::string_view bytes_;
  std::size_t position_ = 0;
  std::string_view context_;
};

}  // namespace outbox_relay::pg::detail
