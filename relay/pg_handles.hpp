#pragma once

// Owners of libpq handles; nothing else calls a libpq free function.

#include <libpq-fe.h>

#include "config/c_handle.hpp"

namespace outbox_relay::relay {

using PgConnHandle = config::CHandle<PGconn, PQfinish>;
using PgResultHandle = config::CHandle<PGresult, PQclear>;
/// A buffer from PQgetCopyData or PQescape*.
using PgBufferHandle = config::CHandle<char, PQfreemem>;

}  // namespace outbox_relay::relay
