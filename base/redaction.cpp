#include "base/redaction.hpp"

#include <algorithm>
#include <mutex>

namespace outbox_relay::base {

namespace {

// Its own mutex: Redact runs inside spdlog's sink lock, so it must never wait on a lock that
// is held while logging.
struct SecretRegistry {
  std::mutex mutex;
  std::vector<std::string> secrets;  // longest first
};

SecretRegistry& Registry() {
  static SecretRegistry registry;
  return registry;
}

}  // namespace

void AddSecrets(const std::vector<std::string>& values) {
  auto& registry = Registry();
  std::lock_guard lock(registry.mutex);
  for (const std::string& value : values) {
    if (value.empty() ||
        std::find(registry.secrets.begin(), registry.secrets.end(), value) != registry.secrets.end()) {
      continue;
    }
    registry.secrets.push_back(value);
  }
  std::stable_sort(registry.secrets.begin(), registry.secrets.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redact(std::string_view text) {
  std::string redacted(text);
  auto& registry = Registry();
  std::lock_guard lock(registry.mutex);
  for (const std::string& secret : registry.secrets) {
    for (std::size_t at = redacted.find(secret); at != std::string::npos;
         at = redacted.find(secret, at + kRedacted.size())) {
      redacted.replace(at, secret.size(), kRedacted);
    }
  }
  return redacted;
}

void ClearSecretsForTest() {
  auto& registry = Registry();
  std::lock_guard lock(registry.mutex);
  registry.secrets.clear();
}

RedactedStream::RedactedStream(std::ostream& stream)
    : stream_(stream), original_(stream.rdbuf()), buffer_(original_) {
  stream_.rdbuf(&buffer_);
}

RedactedStream::~RedactedStream() {
  buffer_.Finish();
  stream_.rdbuf(original_);
}

void RedactedStream::Buffer::Finish() {
  const std::string redacted = Redact(pending_);
  pending_.clear();
  target_->sputn(redacted.data(), static_cast<std::streamsize>(redacted.size()));
  target_->pubsync();
}

RedactedStream::Buffer::int_type RedactedStream::Buffer::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  pending_.push_back(traits_type::to_char_type(c));
  if (pending_.back() == '\n') WriteCompleteLines();
  return c;
}

std::streamsize RedactedStream::Buffer::xsputn(const char* text, std::streamsize count) {
  pending_.append(text, static_cast<std::size_t>(count));
  WriteCompleteLines();
  return count;
}

int RedactedStream::Buffer::sync() {
  // Complete lines went out already; an unfinished one waits for its end.
  return target_->pubsync();
}

void RedactedStream::Buffer::WriteCompleteLines() {
  const std::size_t end = pending_.rfind('\n');
  if (end == std::string::npos) return;
  const std::string redacted = Redact(std::string_view(pending_).substr(0, end + 1));
  pending_.erase(0, end + 1);
  target_->sputn(redacted.data(), static_cast<std::streamsize>(redacted.size()));
}

}  // namespace outbox_relay::base
