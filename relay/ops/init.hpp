#pragma once

// The parts of `outbox-relay init` (InitCommand, relay/ops/init.cpp) that live in files of
// their own.

#include <iosfwd>

#include "config/config.hpp"

namespace outbox_relay::ops::detail {

/// `init --print-sql` (init_print_sql.cpp): the SQL a DBA would run for `config`, the
/// migrations in full, without connecting.
void PrintInitSql(const config::Config& config, std::ostream& out);

/// `outbox-relay init --inbox --print-sql`: the inbox migration and the suggested role.
void PrintInboxSql(const config::Config& config, std::ostream& out);

}  // namespace outbox_relay::ops::detail
