#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <boost/outcome/result.hpp>

#include "base/exit_code.hpp"

// The project's one error policy (docs/architecture.md, "Errors"): an expected failure at a
// seam (a read from PostgreSQL, a publish, a commit) comes back as a Result whose Error says
// what kind it is; exceptions are left for broken invariants and for start-up, where the
// command turns them into one line and an exit code.
namespace outbox_relay::base {

enum class ErrorKind {
  // A later attempt may succeed (a server restarts, a network heals): back off and retry,
  // acknowledging nothing past what was delivered.
  kRetryable,
  // Retrying cannot help: the relay stops, exit 1, and resumes from its slot after a restart.
  kFatal,
  // The operator must change the configuration or the database first: exit 2 at start-up.
  kConfiguration,
};

struct Error {
  ErrorKind kind = ErrorKind::kFatal;
  std::string message;  // one line, naming the key, row or server that failed
  std::string hint;     // what the operator can do about it; empty when there is nothing to add
  std::string code;     // the server's own code for it (a PostgreSQL SQLSTATE); empty when none

  static Error Retryable(std::string message, std::string hint = {}) {
    return {ErrorKind::kRetryable, std::move(message), std::move(hint), {}};
  }
  static Error Fatal(std::string message, std::string hint = {}) {
    return {ErrorKind::kFatal, std::move(message), std::move(hint), {}};
  }
  static Error Configuration(std::string message, std::string hint = {}) {
    return {ErrorKind::kConfiguration, std::move(message), std::move(hint), {}};
  }

  bool retryable() const { return kind == ErrorKind::kRetryable; }
  /// "message; hint" as one log or stderr line.
  std::string Line() const { return hint.empty() ? message : message + "; " + hint; }
};

/// The exit code of a command that ends on `kind`.
constexpr int ExitCodeFor(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConfiguration:
      return kExitConfig;
    case ErrorKind::kRetryable:
    case ErrorKind::kFatal:
      return kExitFatal;
  }
  return kExitFatal;  // unreachable: the switch names every kind, and -Wswitch checks that
}

/// A value or the Error that prevented it. Reading the value of an error result is a bug and
/// terminates (policy::terminate) instead of throwing.
template <typename T>
using Result = boost::outcome_v2::result<T, Error, boost::outcome_v2::policy::terminate>;

}  // namespace outbox_relay::base
