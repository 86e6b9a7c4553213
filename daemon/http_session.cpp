#include "daemon/http_session.hpp"

#include "daemon/event_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "daemon/event_stream.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace kiwi {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Initial capacity of a connection's read buffer (kept for the connection's lifetime).
constexpr std::size_t read_buffer_bytes = 16 * 1024;

// Keeps the socket in the registry's idle set while the session waits for a request.
class idle_mark {
 public:
  idle_mark(session_registry& r, asio::ip::tcp::socket& s) : registry_(r), socket_(&s) {
    registry_.idle.insert(socket_);
  }
  ~idle_mark() { registry_.idle.erase(socket_); }
  idle_mark(const idle_mark&) = delete;
  idle_mark& operator=(const idle_mark&) = delete;

 private:
  session_registry& registry_;
  asio::ip::tcp::socket* socket_;
};

// Writes a response in one buffer (see serialize()); Beast's serializer only for a chunked one,
// which kiwid does not produce.
asio::awaitable<boost::system::error_code> write_response(beast::tcp_stream& stream,
                                                          const http_response& res) {
  if (res.chunked()) {
    auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
    co_return ec;
  }
  std::string wire = serialize(res);
  auto buffer = asio::buffer(wire);
  auto [ec, n] = co_await asio::async_write(stream, buffer, use_tuple);
  co_return ec;
}

http_request bare_request(unsigned version) {
  http_request req;
  req.version(version);
  req.keep_alive(false);
  return req;
}

}  // namespace

asio::awaitable<void> run_http_session(asio::ip::tcp::socket socket, session_limits limits,
                                       router_context& router, session_registry& registry) {
  boost::system::error_code peer_ec;
  const std::string client = socket.remote_endpoint(peer_ec).address().to_string();
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  // Beast reads at most max(512, capacity - size) bytes per call, and the parser consumes the
  // body as it arrives, so an unreserved buffer stays at 512 bytes: a typical 8 KB push took 16
  // reads (each re-arming the stream's timer). With this, most webhooks arrive in one read.
  buffer.reserve(read_buffer_bytes);
  bool first = true;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(limits.max_body_bytes);
    {
      idle_mark mark(registry, stream.socket());
      if (registry.stopping) {
        break;
      }
      // The first request gets the header deadline; a kept-alive connection the idle one.
      stream.expires_after(first ? limits.header_timeout : limits.idle_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
      if (ec == http::error::body_limit) {  // a declared Content-Length over the limit
        auto res = error_response(bare_request(11), 413,
                                  "body exceeds max_body_bytes (" +
                                      std::to_string(limits.max_body_bytes) + " bytes)");
        spdlog::warn("{} {}: 413 body too large", parser.get().method_string(),
                     parser.get().target());
        co_await write_response(stream, res);
        break;
      }
      if (ec == http::error::header_limit) {
        auto res = error_response(bare_request(11), 431, "request headers exceed 16 KiB");
        co_await write_response(stream, res);
        break;
      }
      if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream) {
        auto res = error_response(bare_request(11), 400,
                                  "malformed HTTP request (" + ec.message() + ")");
        co_await write_response(stream, res);
        break;
      }
      if (ec) {
        break;  // closed, timed out, or cancelled by shutdown: nothing was in flight
      }
    }
    first = false;
    // Once the headers are in, the request is in flight: it gets its answer even on shutdown.
    stream.expires_after(limits.header_timeout);
    auto& header = parser.get();
    if (auto length = parser.content_length(); length && *length > limits.max_body_bytes) {
      auto res = error_response(bare_request(header.version()), 413,
                                "body of " + std::to_string(*length) +
                                    " bytes exceeds max_body_bytes (" +
                                    std::to_string(limits.max_body_bytes) + ")");
      spdlog::warn("{} {}: 413 body too large", header.method_string(), header.target());
      co_await write_response(stream, res);
      break;
    }
    if (beast::iequals(header[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, header.version()};
      auto [ec, n] = co_await http::async_write(stream, cont, use_tuple);
      if (ec) {
        break;
      }
    }
    stream.expires_after(limits.body_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec == http::error::body_limit) {
      auto res = error_response(bare_request(header.version()), 413,
                                "body exceeds max_body_bytes (" +
                                    std::to_string(limits.max_body_bytes) + ")");
      spdlog::warn("{} {}: 413 body too large", header.method_string(), header.target());
      co_await write_response(stream, res);
      break;
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      auto res = error_response(bare_request(header.version()), 400,
                                "malformed HTTP request body (" + ec.message() + ")");
      co_await write_response(stream, res);
      break;
    }
    if (ec) {
      break;  // the peer went away or the body deadline passed
    }
    http_request request = parser.release();
    if (is_event_stream_route(request)) {
      // The stream holds the connection until it ends; then the connection closes.
      co_await serve_event_stream(stream, request, router, client, registry.stopping);
      break;
    }
    http_response response = co_await handle_request(request, router, client);
    if (registry.stopping) {
      response.keep_alive(false);
    }
    stream.expires_after(limits.body_timeout);
    auto wec = co_await write_response(stream, response);
    if (wec || !response.keep_alive()) {
      break;
    }
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
  registry.open->fetch_sub(1, std::memory_order_relaxed);
  --registry.active;
}

}  // namespace kiwi
