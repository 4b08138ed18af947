#pragma once

// The one owner type for C library handles (libpq, librdkafka): a unique_ptr whose deleter is
// the library's destroy function.

#include <memory>

namespace outbox_relay::base {

template <auto Destroy>
struct CDeleter {
  template <typename T>
  void operator()(T* handle) const {
    Destroy(handle);
  }
};

template <typename T, auto Destroy>
using CHandle = std::unique_ptr<T, CDeleter<Destroy>>;

}  // namespace outbox_relay::base
