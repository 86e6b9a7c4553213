#include "daemon/http_session.hpp"

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
#include "daemon/http_types.hpp"

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

// Counts the session in its thread's registry (the drain waits for it) for as long as it runs.
class active_mark {
 public:
  explicit active_mark(session_registry& r) : registry_(r) { ++registry_.active; }
  ~active_mark() { --registry_.active; }
  active_mark(const active_mark&) = delete;
  active_mark& operator=(const active_mark&) = delete;

 private:
  session_registry& registry_;
};

void warn_busy(std::string_view target) {
  static std::atomic<std::int64_t> last_warning{0};  // steady clock seconds, all threads
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  if (now - last_warning.exchange(now) >= 10) {
    spdlog::warn("{}: 503 http.max_buffered_body_bytes reached; refusing new bodies",
                 loggable(target));
  }
}

// A handler's exception becomes a 500 answer and one log line; the session goes on.
asio::awaitable<http_response> answer(const http_request& req, router_context& router,
                                      const std::string& client) {
  try {
    co_return co_await handle_request(req, router, client);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: 500 internal error: {}", std::string(req.method_string()),
                  loggable(req.target()), e.what());
    co_return error_response(req, 500, "internal error; kiwid's log has the details");
  }
}

asio::awaitable<std::optional<http_response>> screen(const http_request& header,
                                                     router_context& router) {
  try {
    co_return co_await screen_request(header, router);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: screening failed: {}", std::string(header.method_string()),
                  loggable(header.target()), e.what());
    co_return std::nullopt;
  }
}

asio::awaitable<void> stream_events(beast::tcp_stream& stream, const http_request& req,
                                    router_context& router, const std::string& client,
                                    session_registry& registry) {
  try {
    co_await serve_event_stream(stream, req, router, client, registry.stopping);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: event stream ended by an error: {}", std::string(req.method_string()),
                  loggable(req.target()), e.what());
  }
}

http_request bare_request(unsigned version) {
  http_request req;
  req.version(version);
  req.keep_alive(false);
  return req;
}

}  // namespace

// The coroutine frame owns `lease`: the connection's slot goes back however the session ends.
asio::awaitable<void> run_http_session(asio::ip::tcp::socket socket,
                                       [[maybe_unused]] admission_lease lease, std::string client,
                                       session_limits limits, router_context& router,
                                       session_registry& registry) {
  active_mark active(registry);
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
    // No limit while the headers are read: the route's own limit is checked and set once the
    // target is known, before a byte of the body is read.
    parser.body_limit(boost::none);
    {
      idle_mark mark(registry, stream.socket());
      if (registry.stopping) {
        break;
      }
      // The first request gets the header deadline; a kept-alive connection the idle one.
      stream.expires_after(first ? limits.header_timeout : limits.idle_timeout);
      auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
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
    const std::string_view target(header.target().data(), header.target().size());
    const bool webhook = target.starts_with("/hooks/");
    const std::size_t body_limit = webhook ? limits.max_body_bytes : limits.max_api_body_bytes;
    const char* limit_name = webhook ? "max_body_bytes" : "http.max_api_body_bytes";
    if (auto length = parser.content_length(); length && *length > body_limit) {
      auto res = error_response(bare_request(header.version()), 413,
                                "body of " + std::to_string(*length) + " bytes exceeds " +
                                    limit_name + " (" + std::to_string(body_limit) + ")");
      spdlog::warn("{} {}: 413 body too large", std::string(header.method_string()),
                   loggable(target));
      co_await write_response(stream, res);
      break;
    }
    parser.body_limit(body_limit);
    if (auto refused = co_await screen(header, router)) {
      stream.expires_after(limits.body_timeout);
      co_await write_response(stream, *refused);
      break;  // the body, if any, was not read
    }
    // The body's bytes count against the buffered total before any is read: the declared
    // length, or the route's limit for a chunked body.
    admission_lease body_bytes;
    const auto declared = parser.content_length();
    if (parser.chunked() || (declared && *declared > 0)) {
      body_bytes = registry.admission->reserve_body(declared ? *declared : body_limit);
      if (!body_bytes) {
        auto res = error_response(bare_request(header.version()), 503,
                                  "kiwid is receiving too many request bodies at once "
                                  "(http.max_buffered_body_bytes); retry shortly");
        res.set(http::field::retry_after, "5");
        warn_busy(target);
        co_await write_response(stream, res);
        break;
      }
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
                                std::string("body exceeds ") + limit_name + " (" +
                                    std::to_string(body_limit) + ")");
      spdlog::warn("{} {}: 413 body too large", std::string(header.method_string()),
                   loggable(target));
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
      body_bytes.release();
      // The stream holds the connection until it ends; then the connection closes.
      co_await stream_events(stream, request, router, client, registry);
      break;
    }
    http_response response = co_await answer(request, router, client);
    request = {};  // the body's memory goes back before the answer is written
    body_bytes.release();
    if (registry.stopping || registry.admission->crowded()) {
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
}

}  // namespace kiwi
