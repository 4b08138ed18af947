#pragma once

// Owners of libpq handles; nothing else calls a libpq free function.

#include <libpq-fe.h>

#include "base/c_handle.hpp"

namespace outbox_relay::pg {

using PgConnHandle = base::CHandle<PGconn, PQfinish>;
using PgResultHandle = base::CHandle<PGresult, PQclear>;
/// The options PQconninfoParse returns.
using PgConninfoHandle = base::CHandle<PQconninfoOption, PQconninfoFree>;
/// A buffer from PQgetCopyData or PQescape*.
using PgBufferHandle = base::CHandle<char, PQfreemem>;

}  // namespace outbox_relay::pg
