#pragma once

// Secret values (passwords, DSNs, keys) registered once the config is loaded are replaced by
// "***" in every log line and in the commands' output. The relay's own messages never quote a
// secret; this is the net under what libraries echo (libpq, librdkafka) and under mistakes.

#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace outbox_relay::base {

inline constexpr std::string_view kRedacted = "***";

/// Adds values to redact from now on; empty ones are ignored. Thread-safe.
void AddSecrets(const std::vector<std::string>& values);

/// `text` with every registered secret replaced by kRedacted (the longest first, so a secret
/// containing another is hidden whole). Thread-safe.
std::string Redact(std::string_view text);

/// Forgets every registered secret. Not thread-safe against concurrent logging.
void ClearSecretsForTest();

/// While alive, everything written to `stream` goes out a line at a time with secrets
/// redacted; a line is held back until it ends (or until this object is destroyed), so a
/// secret split over several writes is still caught. Restores the stream's buffer on
/// destruction: destroy it before anything else writes to the stream without it.
class RedactedStream {
 public:
  explicit RedactedStream(std::ostream& stream);
  ~RedactedStream();
  RedactedStream(const RedactedStream&) = delete;
  RedactedStream& operator=(const RedactedStream&) = delete;

 private:
  class Buffer final : public std::streambuf {
   public:
    explicit Buffer(std::streambuf* target) : target_(target) {}
    /// Writes out what is left of an unfinished line.
    void Finish();

   protected:
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* text, std::streamsize count) override;
    int sync() override;

   private:
    void WriteCompleteLines();

    std::streambuf* target_;
    std::string pending_;
  };

  std::ostream& stream_;
  std::streambuf* original_;
  Buffer buffer_;
};

}  // namespace outbox_relay::base
