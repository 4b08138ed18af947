#include "base/logging.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "base/redaction.hpp"

namespace outbox_relay::base {

namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %l [%n] %v";
constexpr std::string_view kHexDigits = "0123456789abcdef";
// What an invalid UTF-8 byte becomes (U+FFFD), so that every line stays valid JSON even when a
// message carries bytes from a server or payload in another encoding.
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

enum class LogFormat { kText, kJson };

void Append(spdlog::memory_buf_t& dest, std::string_view text) {
  dest.append(text.data(), text.data() + text.size());
}

// The length of the well-formed UTF-8 sequence starting at text[pos], or 0 if there is none
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[pos + i]); };
  const auto continuation = [&](std::size_t i) { return pos + i < text.size() && (byte(i) & 0xC0) == 0x80; };
  const unsigned char lead = byte(0);
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (lead == 0xED && byte(1) > 0x9F) return 0;   // UTF-16 surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (lead == 0xF4 && byte(1) > 0x8F) return 0;   // above U+10FFFF
    return 4;
  }
  return 0;
}

// Appends `text` as the inside of a JSON string (RFC 8259).
void AppendJsonEscaped(spdlog::memory_buf_t& dest, std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c >= 0x80) {
      const std::size_t length = Utf8SequenceLength(text, pos);
      if (length == 0) {
        Append(dest, kReplacementCharacter);
        ++pos;
      } else {
        Append(dest, text.substr(pos, length));
        pos += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        Append(dest, "\\\"");
        break;
      case '\\':
        Append(dest, "\\\\");
        break;
      case '\n':
        Append(dest, "\\n");
        break;
      case '\r':
        Append(dest, "\\r");
        break;
      case '\t':
        Append(dest, "\\t");
        break;
      case '\b':
        Append(dest, "\\b");
        break;
      case '\f':
        Append(dest, "\\f");
        break;
      default:
        if (c < 0x20) {
          const char escape[] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};
          dest.append(std::begin(escape), std::end(escape));
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
    ++pos;
  }
}

// One JSON object per line, so log shippers can parse lines without knowing the text layout.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    const auto since_epoch = duration_cast<milliseconds>(msg.time.time_since_epoch()).count();
    // Floor division, so a (theoretical) time before 1970 still gets a 0..999 fraction.
    std::int64_t seconds = since_epoch / 1000;
    std::int64_t millis = since_epoch % 1000;
    if (millis < 0) {
      millis += 1000;
      --seconds;
    }
    const auto time = static_cast<std::time_t>(seconds);
    std::tm utc{};
    ::gmtime_r(&time, &utc);
    fmt::format_to(std::back_inserter(dest), R"({{"time":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z","level":")",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    Append(dest, std::string_view(level.data(), level.size()));
    Append(dest, R"(","logger":")");
    AppendJsonEscaped(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    Append(dest, R"(","message":")");
    AppendJsonEscaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    Append(dest, "\"}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// Redacts secrets in the message before the inner formatter lays the line out (and, for JSON,
// escapes it, which could otherwise change how a secret is spelled).
class RedactingFormatter final : public spdlog::formatter {
 public:
  explicit RedactingFormatter(std::unique_ptr<spdlog::formatter> inner) : inner_(std::move(inner)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const std::string redacted = Redact(payload);
    if (redacted == payload) {
      inner_->format(msg, dest);
      return;
    }
    spdlog::details::log_msg copy = msg;
    copy.payload = spdlog::string_view_t(redacted.data(), redacted.size());
    inner_->format(copy, dest);
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<RedactingFormatter>(inner_->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> inner_;
};

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  if (format == LogFormat::kJson) return std::make_unique<RedactingFormatter>(std::make_unique<JsonFormatter>());
  return std::make_unique<RedactingFormatter>(
      std::make_unique<spdlog::pattern_formatter>(kTextPattern, spdlog::pattern_time_type::utc));
}

spdlog::sink_ptr MakeStderrSink(LogFormat format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(MakeFormatter(format));
  return sink;
}

// The format lives on the one shared sink rather than on each logger: spdlog formatters belong
// to sinks, and a logger setting its own pattern would overwrite the format for all of them.
struct LoggingState {
  std::mutex mutex;
  LogFormat format = LogFormat::kText;
  spdlog::level::level_enum level = spdlog::level::info;
  spdlog::sink_ptr sink = MakeStderrSink(LogFormat::kText);
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

LoggingState& State() {
  static LoggingState state;
  return state;
}

spdlog::level::level_enum ParseLevel(const std::string& level) {
  // spdlog maps every unknown name to "off", which would silently drop all logging.
  for (const char* known : {"trace", "debug", "info", "warn", "error"}) {
    if (level == known) return spdlog::level::from_str(level);
  }
  throw std::invalid_argument("log.level: expected one of trace, debug, info, warn, error, got \"" + level + "\"");
}

LogFormat ParseFormat(const std::string& format) {
  if (format == "text") return LogFormat::kText;
  if (format == "json") return LogFormat::kJson;
  throw std::invalid_argument("log.format: expected one of text, json, got \"" + format + "\"");
}

}  // namespace

spdlog::logger& Logger(const std::string& component) {
  auto& state = State();
  std::lock_guard lock(state.mutex);
  if (const auto it = state.loggers.find(component); it != state.loggers.end()) {
    return *it->second;
  }
  auto logger = std::make_shared<spdlog::logger>(component, state.sink);
  logger->set_level(state.level);
  // Registered too, so spdlog's global flush and shutdown reach it.
  spdlog::register_logger(logger);
  state.loggers.emplace(component, logger);
  return *logger;
}

void ConfigureLogging(const std::string& level_name, const std::string& format_name) {
  const spdlog::level::level_enum level = ParseLevel(level_name);
  const LogFormat format = ParseFormat(format_name);
  auto& state = State();
  std::lock_guard lock(state.mutex);
  state.level = level;
  state.format = format;
  state.sink->set_formatter(MakeFormatter(format));
  for (const auto& [name, logger] : state.loggers) logger->set_level(level);
}

void SetLogSinkForTest(spdlog::sink_ptr sink) {
  auto& state = State();
  std::lock_guard lock(state.mutex);
  if (sink == nullptr) {
    sink = MakeStderrSink(state.format);
  } else {
    sink->set_formatter(MakeFormatter(state.format));
  }
  state.sink = sink;
  for (const auto& [name, logger] : state.loggers) logger->sinks() = {sink};
}

}  // namespace outbox_relay::base
