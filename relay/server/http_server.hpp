#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>  // before Boost 1.74 asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace outbox_relay::server {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

/// The relay's one HTTP port (/metrics, /healthz, /readyz), served by Boost.Beast on the relay's
/// io_context: no thread of its own, and answers read the relay's state without locks.
/// GET only; each request has a 10 s deadline.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse(std::string_view path)>;

  /// Binds `listen` ("host:port"; port 0 picks a free one). Throws std::runtime_error naming
  /// http.listen when the address cannot be bound.
  HttpServer(boost::asio::io_context& io, const std::string& listen, Handler handler);

  /// Accepts connections until Stop(), then returns (the relay's task group owns it). Each
  /// connection is served by a coroutine of its own, which ends with its client or its deadline.
  boost::asio::awaitable<void> Run();
  /// Stops accepting: Run() returns soon after; connections in progress finish on their own.
  void Stop();
  unsigned short Port() const { return acceptor_.local_endpoint().port(); }

 private:
  boost::asio::awaitable<void> Serve(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
};

}  // namespace outbox_relay::server
