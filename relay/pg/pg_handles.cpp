#include "relay/pg/pg_handles.hpp"

#include <libpq-fe.h>

namespace outbox_relay::pg {

void FreeConnection(pg_conn* conn) { PQfinish(conn); }
void FreeResult(pg_result* result) { PQclear(result); }
void FreeBuffer(char* buffer) { PQfreemem(buffer); }

}  // namespace outbox_relay::pg
