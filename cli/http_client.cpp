#include "cli/http_client.hpp"

#include <cstdint>
#include <cstdlib>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace kiwi::cli {

namespace {

constexpr std::chrono::seconds connect_timeout{10};
constexpr std::uint64_t max_reply_bytes = 64 * 1024 * 1024;
constexpr std::string_view user_agent = "kiwictl/0.1";

// Runs one asynchronous operation to completion on `ioc`: the operations are asynchronous only
// so that beast::tcp_stream's deadlines apply to them.
template <class Initiate>
error_code run_op(asio::io_context& ioc, Initiate&& initiate) {
  error_code result = asio::error::would_block;
  initiate([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

}  // namespace

std::optional<endpoint> parse_endpoint(std::string_view url) {
  endpoint e;
  e.url = std::string(url);
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
    e.tls = true;
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      path.find_first_of("?#") != std::string_view::npos) {
    return std::nullopt;
  }
  if (authority.front() == '[') {  // [::1]:8080
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    e.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') {
      return std::nullopt;
    }
  } else {
    const auto colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    authority.remove_prefix(colon == std::string_view::npos ? authority.size() : colon);
  }
  if (!authority.empty()) {  // ":port"
    e.port = std::string(authority.substr(1));
    if (e.port.empty() || e.port.size() > 5 ||
        e.port.find_first_not_of("0123456789") != std::string::npos ||
        std::atoi(e.port.c_str()) > 65535) {
      return std::nullopt;
    }
  } else {
    e.port = e.tls ? "443" : "80";
  }
  if (e.host.empty()) {
    return std::nullopt;
  }
  e.base_path = std::string(path);
  return e;
}

// One open connection: plain TCP or TLS over TCP. The io_context runs only inside run_op.
struct http_client::connection {
  asio::io_context ioc;
  std::optional<ssl::context> tls_context;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool reused = false;  // has served a request already (the server may have closed it since)

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  template <class F>
  error_code with_stream(F&& f) {
    return secure ? f(*secure) : f(*plain);
  }

  void close() {
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
  }
};

http_client::http_client(endpoint where, std::string token, std::chrono::milliseconds timeout)
    : where_(std::move(where)), token_(std::move(token)), timeout_(timeout) {}

http_client::~http_client() {
  if (conn_) {
    conn_->close();
  }
}

namespace {

[[noreturn]] void unreachable(const endpoint& where, std::string_view what, const error_code& ec) {
  std::string message = ec == beast::error::timeout ? std::string("timed out")
                                                    : ec.message();
  const std::string hint = what == "TLS handshake"
                               ? "KIWI_CA_FILE names the CA that signed kiwid's certificate"
                               : "is it running? (KIWI_URL sets where kiwictl looks)";
  throw unreachable_error("cannot reach kiwid at " + where.url + " (" + std::string(what) + ": " +
                          message + "); " + hint);
}

std::unique_ptr<http_client::connection> open_connection(const endpoint& where) {
  auto c = std::make_unique<http_client::connection>();
  tcp::resolver resolver(c->ioc);
  error_code ec;
  auto results = resolver.resolve(where.host, where.port, ec);
  if (ec) {
    unreachable(where, "resolving " + where.host, ec);
  }
  if (where.tls) {
    c->tls_context.emplace(ssl::context::tls_client);
    c->tls_context->set_verify_mode(ssl::verify_peer);
    if (const char* ca = std::getenv("KIWI_CA_FILE"); ca != nullptr && *ca != '\0') {
      c->tls_context->load_verify_file(ca, ec);
      if (ec) {
        throw unreachable_error("cannot read KIWI_CA_FILE " + std::string(ca) + ": " +
                                ec.message());
      }
    } else {
      c->tls_context->set_default_verify_paths(ec);
    }
    c->secure.emplace(c->ioc, *c->tls_context);
    // SNI and the certificate's host name check.
    SSL_set_tlsext_host_name(c->secure->native_handle(), where.host.c_str());
    c->secure->set_verify_callback(ssl::host_name_verification(where.host));
  } else {
    c->plain.emplace(c->ioc);
  }
  c->lowest().expires_after(connect_timeout);
  ec = run_op(c->ioc, [&](auto handler) { c->lowest().async_connect(results, handler); });
  if (ec) {
    unreachable(where, "connecting", ec);
  }
  if (c->secure) {
    c->lowest().expires_after(connect_timeout);
    ec = run_op(c->ioc, [&](auto handler) {
      c->secure->async_handshake(ssl::stream_base::client, handler);
    });
    if (ec) {
      unreachable(where, "TLS handshake", ec);
    }
  }
  return c;
}

http::request<http::string_body> make_request(const endpoint& where, const std::string& token,
                                              std::string_view method, const std::string& path) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(where.base_path + path);
  req.version(11);
  const bool default_port = where.port == (where.tls ? "443" : "80");
  const std::string host =
      where.host.find(':') != std::string::npos ? "[" + where.host + "]" : where.host;
  req.set(http::field::host, default_port ? host : host + ":" + where.port);
  req.set(http::field::user_agent, user_agent);
  if (!token.empty()) {
    req.set(http::field::authorization, "Bearer " + token);
  }
  req.keep_alive(true);
  return req;
}

}  // namespace

http_reply http_client::request(std::string_view method, const std::string& path,
                                const std::string* json_body) {
  auto req = make_request(where_, token_, method, path);
  req.set(http::field::accept, "application/json");
  if (json_body != nullptr) {
    req.set(http::field::content_type, "application/json");
    req.body() = *json_body;
  }
  req.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    if (!conn_) {
      conn_ = open_connection(where_);
    }
    connection& c = *conn_;
    c.lowest().expires_after(timeout_);
    error_code ec = c.with_stream([&](auto& s) {
      return run_op(c.ioc, [&](auto handler) { http::async_write(s, req, handler); });
    });
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_reply_bytes);
    if (!ec) {
      c.lowest().expires_after(timeout_);
      ec = c.with_stream([&](auto& s) {
        return run_op(c.ioc, [&](auto handler) { http::async_read(s, c.buffer, parser, handler); });
      });
    }
    if (ec) {
      const bool stale = c.reused && attempt == 0 && is_disconnect(ec) && !parser.got_some();
      conn_.reset();
      if (stale) {
        continue;  // the server closed an idle keep-alive connection: once more, on a new one
      }
      unreachable(where_, std::string(method) + " " + path, ec);
    }
    auto res = parser.release();
    http_reply reply;
    reply.status = res.result_int();
    reply.content_type = std::string(res[http::field::content_type]);
    reply.body = std::move(res.body());
    if (res.keep_alive()) {
      c.reused = true;
    } else {
      c.close();
      conn_.reset();
    }
    return reply;
  }
}

http_client::stream_result http_client::stream(
    const std::string& path, const header_list& extra_headers,
    const std::function<bool(std::string_view)>& on_data, std::chrono::milliseconds idle_timeout) {
  auto req = make_request(where_, token_, "GET", path);
  req.set(http::field::accept, "text/event-stream");
  req.set(http::field::cache_control, "no-cache");
  for (const auto& [name, value] : extra_headers) {
    req.set(name, value);
  }
  req.prepare_payload();

  // A stream gets a connection of its own, closed afterwards.
  std::unique_ptr<connection> owned = open_connection(where_);
  connection& c = *owned;
  c.lowest().expires_after(timeout_);
  error_code ec = c.with_stream([&](auto& s) {
    return run_op(c.ioc, [&](auto handler) { http::async_write(s, req, handler); });
  });
  http::response_parser<http::buffer_body> parser;
  parser.body_limit((std::numeric_limits<std::uint64_t>::max)());
  if (!ec) {
    c.lowest().expires_after(timeout_);
    ec = c.with_stream([&](auto& s) {
      return run_op(c.ioc,
                    [&](auto handler) { http::async_read_header(s, c.buffer, parser, handler); });
    });
  }
  if (ec) {
    c.close();
    unreachable(where_, "GET " + path, ec);
  }

  stream_result result;
  const unsigned status = parser.get().result_int();
  result.reply.status = status;
  result.reply.content_type = std::string(parser.get()[http::field::content_type]);
  const bool success = status >= 200 && status < 300;
  char chunk[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    c.lowest().expires_after(success ? idle_timeout : timeout_);
    ec = c.with_stream([&](auto& s) {
      return run_op(c.ioc,
                    [&](auto handler) { http::async_read_some(s, c.buffer, parser, handler); });
    });
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    const std::size_t n = sizeof chunk - parser.get().body().size;
    if (n > 0) {
      const std::string_view data(chunk, n);
      if (!success) {
        if (result.reply.body.size() < max_reply_bytes) {
          result.reply.body.append(data);
        }
      } else if (!on_data(data)) {
        c.close();
        result.ended_cleanly = true;
        return result;
      }
    }
    if (ec) {
      c.close();
      if (!success) {
        unreachable(where_, "GET " + path, ec);
      }
      return result;  // dropped or idle for too long: the caller reconnects
    }
  }
  c.close();
  result.ended_cleanly = true;
  return result;
}

}  // namespace kiwi::cli
