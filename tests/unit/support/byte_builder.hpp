#pragma once

// Test-only builder for hand-made protocol messages: appends big-endian integers and
// NUL-terminated strings, the two encodings the PostgreSQL protocols use.

#include <cstdint>
#include <string>
#include <string_view>

namespace outbox_relay::test {

class ByteBuilder {
 public:
  ByteBuilder& Put8(std::uint8_t value) { return PutBigEndian(value, 1); }
  ByteBuilder& Put16(std::uint16_t value) { return PutBigEndian(value, 2); }
  ByteBuilder& Put32(std::uint32_t value) { return PutBigEndian(value, 4); }
  ByteBuilder& Put64(std::uint64_t value) { return PutBigEndian(value, 8); }

  /// A protocol String: the text plus its NUL terminator.
  ByteBuilder& PutString(std::string_view text) {
    bytes_.append(text);
    bytes_.push_back('\0');
    return *this;
  }

  /// Raw bytes with no terminator: Byten fields and deliberately malformed input.
  ByteBuilder& PutBytes(std::string_view bytes) {
    bytes_.append(bytes);
    return *this;
  }

  std::string Build() const { return bytes_; }

 private:
  ByteBuilder& PutBigEndian(std::uint64_t value, int width) {
    for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<char>((value >> shift) & 0xFF));
    }
    return *this;
  }

  std::string bytes_;
};

}  // namespace outbox_relay::test
