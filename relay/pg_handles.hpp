#pragma once

// Owners of libpq handles; nothing else calls a libpq free function.

#include <memory>

#include <libpq-fe.h>

namespace outbox_relay::relay {

template <auto Free>
struct PgDeleter {
  template <typename T>
  void operator()(T* handle) const {
    Free(handle);
  }
};

using PgConnHandle = std::unique_ptr<PGconn, PgDeleter<PQfinish>>;
using PgResultHandle = std::unique_ptr<PGresult, PgDeleter<PQclear>>;
/// A buffer from PQgetCopyData.
using PgBufferHandle = std::unique_ptr<char, PgDeleter<PQfreemem>>;

}  // namespace outbox_relay::relay
