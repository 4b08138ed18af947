#pragma once

// Owners of libpq handles; nothing else calls a libpq free function. The handles name libpq's
// structs by their tags (PGconn and PGresult are typedefs of them), so a header that holds one
// does not include libpq-fe.h: libpq is linked PRIVATE, and only the files that call it include it.

#include "base/c_handle.hpp"

struct pg_conn;
struct pg_result;

namespace outbox_relay::pg {

void FreeConnection(pg_conn* conn);
void FreeResult(pg_result* result);
void FreeBuffer(char* buffer);

using PgConnHandle = base::CHandle<pg_conn, FreeConnection>;
using PgResultHandle = base::CHandle<pg_result, FreeResult>;
/// A buffer from PQgetCopyData or PQescape*.
using PgBufferHandle = base::CHandle<char, FreeBuffer>;

}  // namespace outbox_relay::pg
