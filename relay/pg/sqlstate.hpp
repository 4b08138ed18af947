#pragma once

#include <string_view>

// The SQLSTATEs the relay decides on (PostgreSQL manual, appendix A), by name, so that a reader
// of `error.sqlstate() == sqlstate::kObjectInUse` needs no table at hand.
namespace outbox_relay::pg::sqlstate {

// Classes: the first two characters.
inline constexpr std::string_view kClassInvalidAuthorization = "28";  // bad password, pg_hba
inline constexpr std::string_view kClassInvalidCatalogName = "3D";    // no such database
inline constexpr std::string_view kClassSyntaxOrAccessRule = "42";   // missing object, privilege
inline constexpr std::string_view kClassDataException = "22";

// CREATE_REPLICATION_SLOT for a slot that exists.
inline constexpr std::string_view kDuplicateObject = "42710";
inline constexpr std::string_view kUndefinedTable = "42P01";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
// START_REPLICATION on a slot another walsender holds ("is active for PID").
inline constexpr std::string_view kObjectInUse = "55006";
// A write on a hot standby.
inline constexpr std::string_view kReadOnlySqlTransaction = "25006";

/// Whether `state` is of `class_code` (two characters).
constexpr bool InClass(std::string_view state, std::string_view class_code) {
  return state.starts_with(class_code);
}

/// Whether a statement or connection that failed with `state` may succeed when tried again.
/// Not for bad credentials, a missing database, or a missing object, privilege or bad syntax:
/// the operator must change the configuration or the database first.
constexpr bool IsRetryable(std::string_view state) {
  return !(InClass(state, kClassInvalidAuthorization) || InClass(state, kClassInvalidCatalogName) ||
           InClass(state, kClassSyntaxOrAccessRule));
}

}  // namespace outbox_relay::pg::sqlstate
