#pragma once

// A minimal HTTP/1.0 GET over a loopback TCP socket, for the relay's /metrics, /healthz and
// /readyz and Prometheus' HTTP API; and reading the relay's HTTP port from its log.

#include <chrono>
#include <optional>
#include <string>

#include "support/relay_process.hpp"

namespace outbox_relay::it {

/// Where the harness's servers and the relays under test listen.
inline constexpr const char* kLoopback = "127.0.0.1";

struct HttpResult {
  int status = 0;
  std::string body;
};

/// GET http://<host>:<port><target> (host: an IPv4 address), "Connection: close", reading until
/// the server closes. Throws std::runtime_error on a connection failure, a malformed answer or
/// when `timeout` passes.
HttpResult HttpGet(const std::string& host, int port, const std::string& target,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// The port of the newest "HTTP listening on <host>:<port>" line in a relay's log (text or
/// JSON format); nullopt if there is none.
std::optional<int> HttpPortFromLog(const std::string& log_text);

/// Waits up to `timeout` for `relay` to log its HTTP port (after its latest start). Throws
/// std::runtime_error with the log's tail if it does not, or if the relay exits first.
int WaitForHttpPort(RelayProcess& relay, std::chrono::milliseconds timeout);

/// Percent-encodes everything but unreserved characters (for a URL's query values).
std::string UrlEncode(const std::string& text);

/// The value of the sample line `series` (the exact name plus labels as exposed, e.g.
/// `outbox_relay_wal_guard_exceeded{level="max"}`) in Prometheus text format; nullopt if absent.
std::optional<double> MetricSample(const std::string& exposition, const std::string& series);

/// The sum of every sample of family `name` (all label sets); nullopt if it has none.
std::optional<double> MetricSum(const std::string& exposition, const std::string& name);

}  // namespace outbox_relay::it
