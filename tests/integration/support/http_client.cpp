#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace outbox_relay::it {

namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  Socket() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  }
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int Fd() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on `fd` until `deadline`; throws naming `what` when it passes.
void WaitFor(int fd, short events, Clock::time_point deadline, const std::string& what) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw std::runtime_error(what + ": timed out");
    pollfd entry{fd, events, 0};
    const int rc = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) throw std::runtime_error(what + ": poll: " + std::strerror(errno));
  }
}

}  // namespace

HttpResult HttpGet(const std::string& host, int port, const std::string& target,
                   std::chrono::milliseconds timeout) {
  const std::string what = "GET http://" + host + ":" + std::to_string(port) + target;
  const auto deadline = Clock::now() + timeout;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error(what + ": not an IPv4 address");
  }
  Socket socket;
  if (::connect(socket.Fd(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINPROGRESS) throw std::runtime_error(what + ": connect: " + std::strerror(errno));
    WaitFor(socket.Fd(), POLLOUT, deadline, what);
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(socket.Fd(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) throw std::runtime_error(what + ": connect: " + std::strerror(error));
  }
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: " + host + ":" +
                              std::to_string(port) + "\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    WaitFor(socket.Fd(), POLLOUT, deadline, what);
    const ssize_t n = ::send(socket.Fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      throw std::runtime_error(what + ": send: " + std::strerror(errno));
    }
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  std::string response;
  char buffer[16384];
  while (true) {
    WaitFor(socket.Fd(), POLLIN, deadline, what);
    const ssize_t n = ::recv(socket.Fd(), buffer, sizeof buffer, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      throw std::runtime_error(what + ": recv: " + std::strerror(errno));
    }
    response.append(buffer, static_cast<std::size_t>(n));
  }
  // "HTTP/1.x NNN reason\r\n" headers "\r\n\r\n" body (HTTP/1.0: never chunked).
  const auto header_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12 || header_end == std::string::npos) {
    throw std::runtime_error(what + ": malformed response: " + response.substr(0, 200));
  }
  HttpResult result;
  result.status = std::stoi(response.substr(9, 3));
  result.body = response.substr(header_end + 4);
  return result;
}

std::optional<int> HttpPortFromLog(const std::string& log_text) {
  static const std::string kMarker = "HTTP listening on ";
  const auto at = log_text.rfind(kMarker);
  if (at == std::string::npos) return std::nullopt;
  const auto end = log_text.find(' ', at + kMarker.size());
  const std::string endpoint = log_text.substr(at + kMarker.size(), end - at - kMarker.size());
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string port = endpoint.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::stoi(port);
}

int WaitForHttpPort(RelayProcess& relay, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    // Only what the latest start logged: a restarted relay listens on a new port.
    std::string log = ReadFile(relay.StderrPath());
    if (const auto start = log.rfind("===== test harness: start #"); start != std::string::npos) {
      log = log.substr(start);
    }
    if (auto port = HttpPortFromLog(log)) return *port;
    if (!relay.Running()) {
      throw std::runtime_error("the relay exited before logging its HTTP port (" +
                               relay.LastExit().value_or(ExitStatus{}).Describe() + "):\n" +
                               relay.StderrTail(20));
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("the relay logged no \"HTTP listening on\" line within " +
                               std::to_string(timeout.count()) + " ms:\n" + relay.StderrTail(20));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string UrlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<double> MetricSample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

std::optional<double> MetricSum(const std::string& exposition, const std::string& name) {
  std::istringstream lines(exposition);
  std::string line;
  std::optional<double> sum;
  while (std::getline(lines, line)) {
    if (line.size() <= name.size() || line.compare(0, name.size(), name) != 0) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    // The value follows the last space: a label value may hold spaces, but it comes before it,
    // and prometheus-cpp exposes no timestamps.
    const auto space = line.rfind(' ');
    sum = sum.value_or(0) + std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

}  // namespace outbox_relay::it
