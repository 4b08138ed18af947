#include "relay/server/http_server.hpp"

#include <chrono>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/logging.hpp"

namespace outbox_relay::server {

namespace {

namespace http = boost::beast::http;
using boost::asio::awaitable;
using boost::asio::use_awaitable;
using boost::asio::ip::tcp;

constexpr auto kRequestTimeout = std::chrono::seconds(10);

tcp::endpoint ParseListen(boost::asio::io_context& io, const std::string& listen) {
  const auto colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const auto port = static_cast<unsigned short>(std::stoul(listen.substr(colon + 1)));
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(host, error);
  if (!error) return {address, port};
  // A name such as "localhost": its first address.
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(host, std::to_string(port), error);
  if (error || results.empty()) {
    throw std::runtime_error("http.listen: cannot resolve \"" + host + "\": " + error.message());
  }
  return *results.begin();
}

}  // namespace

HttpServer::HttpServer(boost::asio::io_context& io, const std::string& listen, Handler handler)
    : io_(io), acceptor_(io), handler_(std::move(handler)) {
  const auto endpoint = ParseListen(io, listen);
  boost::system::error_code error;
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) throw std::runtime_error("http.listen: cannot listen on " + listen + ": " + error.message());
  base::Logger("relay").info("HTTP listening on {}:{} (/metrics, /healthz, /readyz, /status)",
                             acceptor_.local_endpoint().address().to_string(), Port());
}

void HttpServer::Stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

awaitable<void> HttpServer::Run() {
  while (acceptor_.is_open()) {
    boost::system::error_code error;
    auto socket = co_await acceptor_.async_accept(boost::asio::redirect_error(use_awaitable, error));
    if (error) {
      if (error == boost::asio::error::operation_aborted) co_return;
      continue;  // a connection that failed before it was accepted
    }
    boost::asio::co_spawn(io_, Serve(std::move(socket)), boost::asio::detached);
  }
}

awaitable<void> HttpServer::Serve(tcp::socket socket) {
  boost::beast::tcp_stream stream(std::move(socket));
  boost::beast::flat_buffer buffer;
  boost::system::error_code error;
  for (;;) {
    stream.expires_after(kRequestTimeout);
    http::request<http::string_body> request;
    co_await http::async_read(stream, buffer, request, boost::asio::redirect_error(use_awaitable, error));
    if (error) break;  // closed by the client, timed out or garbage: nothing to answer
    HttpResponse answer;
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      answer = {405, "text/plain; charset=utf-8", "only GET\n"};
    } else {
      const std::string_view target(request.target().data(), request.target().size());
      answer = handler_(target.substr(0, target.find('?')));
    }
    http::response<http::string_body> response{static_cast<http::status>(answer.status), request.version()};
    response.set(http::field::server, "outbox-relay");
    response.set(http::field::content_type, answer.content_type);
    response.keep_alive(request.keep_alive());
    response.body() = std::move(answer.body);
    response.prepare_payload();
    co_await http::async_write(stream, response, boost::asio::redirect_error(use_awaitable, error));
    if (error || !response.keep_alive()) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, error);
}

}  // namespace outbox_relay::server
