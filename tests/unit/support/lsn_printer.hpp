#pragma once

#include <ostream>

#include "relay/pg/lsn.hpp"

namespace outbox_relay::pg {

// GoogleTest failures show "16/B374D848" instead of raw bytes (found by argument lookup).
inline void PrintTo(const Lsn& lsn, std::ostream* out) { *out << lsn.ToString(); }

}  // namespace outbox_relay::pg
