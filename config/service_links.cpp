// Kubernetes service links: the variables the kubelet injects into every pod for each Service
// of its namespace, recognised so that a Service named outbox-relay does not break the relay.

#include <arpa/inet.h>  // inet_pton

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_detail.hpp"

namespace outbox_relay::config::detail {
namespace {

// Kubernetes gives every pod variables for each Service of its namespace ("service links").
// For a Service named outbox-relay, or outbox-relay-<anything>, they begin with OUTBOX_RELAY_,
// so a Helm release of that name would crash-loop on them. They are recognised by name and
// value, in exactly the shapes the kubelet writes (S: the Service's name in upper case, '-' as
// '_'; P: TCP, UDP or SCTP; N: a port number):
//   S_SERVICE_HOST=<ip>  S_SERVICE_PORT=<N>  S_SERVICE_PORT_<PORT NAME>=<N>
//   S_PORT=<p>://<ip>:<N>  S_PORT_<N>_<P>=<p>://<ip>:<N>
//   S_PORT_<N>_<P>_PROTO=<p>  S_PORT_<N>_<P>_PORT=<N>  S_PORT_<N>_<P>_ADDR=<ip>

bool IsPortNumber(std::string_view text) {
  if (text.empty() || text.size() > 5 || text.front() == '0' ||
      text.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  return std::stoul(std::string(text)) <= 65535;
}

bool IsIpAddress(std::string_view text) {
  const std::string address(text);
  std::array<unsigned char, 16> buffer{};
  return inet_pton(AF_INET, address.c_str(), buffer.data()) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buffer.data()) == 1;
}

bool IsServiceProtocol(std::string_view word) { return word == "TCP" || word == "UDP" || word == "SCTP"; }

// "<protocol>://<ip>:<port>", IPv6 in brackets; an empty `protocol` or `port` accepts any.
bool IsServiceUrl(std::string_view value, std::string_view protocol, std::string_view port) {
  const std::size_t scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return false;
  const std::string scheme = Upper(value.substr(0, scheme_end));
  if (!IsServiceProtocol(scheme) || value.substr(0, scheme_end) != Lower(scheme) ||
      (!protocol.empty() && scheme != protocol)) {
    return false;
  }
  const std::string_view address = value.substr(scheme_end + 3);
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = address.substr(0, colon);
  const std::string_view host_port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return IsIpAddress(host) && IsPortNumber(host_port) && (port.empty() || host_port == port);
}

// The words after the Service's name: SERVICE_HOST, PORT_8080_TCP_ADDR, ...
bool IsServiceLinkTail(std::span<const std::string_view> tail, std::string_view value) {
  if (tail.size() >= 2 && tail[0] == "SERVICE") {
    if (tail.size() == 2 && tail[1] == "HOST") return IsIpAddress(value);
    return tail[1] == "PORT" && IsPortNumber(value);  // with or without a port name after it
  }
  if (tail.empty() || tail[0] != "PORT") return false;
  if (tail.size() == 1) return IsServiceUrl(value, "", "");
  if (tail.size() < 3 || tail.size() > 4 || !IsPortNumber(tail[1]) || !IsServiceProtocol(tail[2])) return false;
  if (tail.size() == 3) return IsServiceUrl(value, tail[2], tail[1]);
  if (tail[3] == "PROTO") return value == Lower(tail[2]);
  if (tail[3] == "PORT") return value == tail[1];
  return tail[3] == "ADDR" && IsIpAddress(value);
}

}  // namespace

bool IsServiceLink(std::string_view variable, std::string_view value) {
  std::vector<std::string_view> words;
  for (std::size_t start = 0;;) {
    const std::size_t end = variable.find('_', start);
    words.push_back(variable.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (words.size() < 3 || words[0] != "OUTBOX" || words[1] != "RELAY") return false;
  // The Service's name is OUTBOX_RELAY plus any number of words: try every split (a view each,
  // so a long name with many words stays linear).
  const std::span<const std::string_view> all(words);
  for (std::size_t name_end = 2; name_end < words.size(); ++name_end) {
    if (IsServiceLinkTail(all.subspan(name_end), value)) return true;
  }
  return false;
}

}  // namespace outbox_relay::config::detail
