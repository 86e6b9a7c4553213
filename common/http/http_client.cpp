#include "common/http/http_client.hpp"

#include <cstdint>
#include <cstdlib>
#include <limits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
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

namespace kiwi {

namespace {

constexpr std::uint64_t max_reply_bytes = 64 * 1024 * 1024;

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

std::optional<http_endpoint> parse_http_endpoint(std::string_view url) {
  http_endpoint e;
  e.url = std::string(url);
  std::string_view rest = url;
  if (rest.starts_with("unix://")) {  // unix:///run/docker.sock
    rest.remove_prefix(7);
    if (!rest.starts_with('/') || rest.size() < 2) {
      return std::nullopt;
    }
    e.socket_path = std::string(rest);
    return e;
  }
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

// One open connection: plain TCP, TLS over TCP, or a unix socket. The io_context runs only
// inside run_op.
struct http_client::connection {
  using local_stream = beast::basic_stream<asio::local::stream_protocol>;

  asio::io_context ioc;
  std::optional<ssl::context> tls_context;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  std::optional<local_stream> local;
  beast::flat_buffer buffer;
  bool reused = false;  // has served a request already (the server may have closed it since)

  void expires_after(std::chrono::milliseconds d) {
    if (local) {
      local->expires_after(d);
    } else {
      (secure ? beast::get_lowest_layer(*secure) : *plain).expires_after(d);
    }
  }

  template <class F>
  error_code with_stream(F&& f) {
    if (local) {
      return f(*local);
    }
    return secure ? f(*secure) : f(*plain);
  }

  void close() {
    error_code ignored;
    if (local) {
      local->socket().shutdown(asio::socket_base::shutdown_both, ignored);
      local->socket().close(ignored);
      return;
    }
    auto& s = (secure ? beast::get_lowest_layer(*secure) : *plain).socket();
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }
};

http_client::http_client(http_endpoint where, http_options options)
    : where_(std::move(where)), options_(std::move(options)) {}

http_client::~http_client() {
  if (conn_) {
    conn_->close();
  }
}

namespace {

[[noreturn]] void unreachable(const http_endpoint& where, const http_options& options,
                              http_unreachable::step step, std::string_view what,
                              const error_code& ec) {
  const bool timed_out = ec == beast::error::timeout;
  const std::string reason = timed_out ? std::string("timed out") : ec.message();
  std::string message = "cannot reach " + options.peer + " at " + where.url + " (" +
                        std::string(what) + ": " + reason + ")";
  const std::string& hint = step == http_unreachable::step::tls && !options.tls_hint.empty()
                                ? options.tls_hint
                                : options.hint;
  if (!hint.empty()) {
    message += "; " + hint;
  }
  throw http_unreachable(message, step, timed_out);
}

void configure_tls(ssl::context& ctx, const http_endpoint& where, const http_options& options) {
  const tls_settings& tls = options.tls;
  error_code ec;
  if (!tls.verify) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.set_verify_mode(ssl::verify_peer);
    if (!tls.ca_pem.empty()) {
      ctx.add_certificate_authority(asio::buffer(tls.ca_pem), ec);
      if (ec) {
        throw http_unreachable("the CA certificate for " + options.peer + " at " + where.url +
                                   " is not valid PEM (" + ec.message() + ")",
                               http_unreachable::step::tls, false);
      }
    } else if (!tls.ca_file.empty()) {
      ctx.load_verify_file(tls.ca_file, ec);
      if (ec) {
        throw http_unreachable("cannot read the CA file " + tls.ca_file + ": " + ec.message(),
                               http_unreachable::step::tls, false);
      }
    } else {
      ctx.set_default_verify_paths(ec);
    }
  }
  if (!tls.client_cert_pem.empty()) {
    ctx.use_certificate_chain(asio::buffer(tls.client_cert_pem), ec);
    if (!ec) {
      ctx.use_private_key(asio::buffer(tls.client_key_pem), ssl::context::pem, ec);
    }
    if (ec) {
      throw http_unreachable("the client certificate or key for " + options.peer + " at " +
                                 where.url + " is not valid PEM (" + ec.message() + ")",
                             http_unreachable::step::tls, false);
    }
  }
}

std::unique_ptr<http_client::connection> open_connection(const http_endpoint& where,
                                                         const http_options& options) {
  auto c = std::make_unique<http_client::connection>();
  error_code ec;
  if (!where.socket_path.empty()) {
    c->local.emplace(c->ioc);
    c->local->expires_after(options.connect_timeout);
    const asio::local::stream_protocol::endpoint ep(where.socket_path);
    ec = run_op(c->ioc, [&](auto handler) { c->local->async_connect(ep, handler); });
    if (ec) {
      unreachable(where, options, http_unreachable::step::connect, "connecting", ec);
    }
    return c;
  }
  tcp::resolver resolver(c->ioc);
  auto results = resolver.resolve(where.host, where.port, ec);
  if (ec) {
    unreachable(where, options, http_unreachable::step::resolve, "resolving " + where.host, ec);
  }
  if (where.tls) {
    c->tls_context.emplace(ssl::context::tls_client);
    configure_tls(*c->tls_context, where, options);
    c->secure.emplace(c->ioc, *c->tls_context);
    // SNI and the certificate's host name check.
    SSL_set_tlsext_host_name(c->secure->native_handle(), where.host.c_str());
    if (options.tls.verify) {
      c->secure->set_verify_callback(ssl::host_name_verification(where.host));
    }
  } else {
    c->plain.emplace(c->ioc);
  }
  c->expires_after(options.connect_timeout);
  ec = run_op(c->ioc, [&](auto handler) {
    (c->secure ? beast::get_lowest_layer(*c->secure) : *c->plain).async_connect(results, handler);
  });
  if (ec) {
    unreachable(where, options, http_unreachable::step::connect, "connecting", ec);
  }
  if (c->secure) {
    c->expires_after(options.connect_timeout);
    ec = run_op(c->ioc, [&](auto handler) {
      c->secure->async_handshake(ssl::stream_base::client, handler);
    });
    if (ec) {
      unreachable(where, options, http_unreachable::step::tls, "TLS handshake", ec);
    }
  }
  return c;
}

http::request<http::string_body> make_request(const http_endpoint& where,
                                              const http_options& options,
                                              const header_list& defaults,
                                              std::string_view method, const std::string& path,
                                              const header_list& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(where.base_path + path);
  req.version(11);
  if (!where.socket_path.empty()) {
    req.set(http::field::host, "localhost");
  } else {
    const bool default_port = where.port == (where.tls ? "443" : "80");
    const std::string host =
        where.host.find(':') != std::string::npos ? "[" + where.host + "]" : where.host;
    req.set(http::field::host, default_port ? host : host + ":" + where.port);
  }
  req.set(http::field::user_agent, options.user_agent);
  for (const auto& [name, value] : defaults) {
    req.set(name, value);
  }
  for (const auto& [name, value] : headers) {
    req.set(name, value);
  }
  req.keep_alive(true);
  return req;
}

template <class Fields>
header_list headers_of(const Fields& fields) {
  header_list out;
  for (const auto& f : fields) {
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

}  // namespace

std::string_view http_reply::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) {
      return v;
    }
  }
  return {};
}

http_reply http_client::request(std::string_view method, const std::string& path,
                                const std::string* body, const header_list& headers) {
  auto req = make_request(where_, options_, default_headers_, method, path, headers);
  if (req.find(http::field::accept) == req.end()) {
    req.set(http::field::accept, "application/json");
  }
  if (body != nullptr) {
    if (req.find(http::field::content_type) == req.end()) {
      req.set(http::field::content_type, "application/json");
    }
    req.body() = *body;
  }
  req.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    if (!conn_) {
      conn_ = open_connection(where_, options_);
    }
    connection& c = *conn_;
    c.expires_after(options_.timeout);
    error_code ec = c.with_stream([&](auto& s) {
      return run_op(c.ioc, [&](auto handler) { http::async_write(s, req, handler); });
    });
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_reply_bytes);
    if (!ec) {
      c.expires_after(options_.timeout);
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
      unreachable(where_, options_, http_unreachable::step::transfer,
                  std::string(method) + " " + path, ec);
    }
    auto res = parser.release();
    http_reply reply;
    reply.status = res.result_int();
    reply.content_type = std::string(res[http::field::content_type]);
    reply.headers = headers_of(res);
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
    const std::string& path, const header_list& headers,
    const std::function<bool(std::string_view)>& on_data, std::chrono::milliseconds idle_timeout) {
  header_list all{{"Accept", "text/event-stream"}, {"Cache-Control", "no-cache"}};
  all.insert(all.end(), headers.begin(), headers.end());
  auto req = make_request(where_, options_, default_headers_, "GET", path, all);
  req.prepare_payload();

  // A stream gets a connection of its own, closed afterwards.
  std::unique_ptr<connection> owned = open_connection(where_, options_);
  connection& c = *owned;
  c.expires_after(options_.timeout);
  error_code ec = c.with_stream([&](auto& s) {
    return run_op(c.ioc, [&](auto handler) { http::async_write(s, req, handler); });
  });
  http::response_parser<http::buffer_body> parser;
  parser.body_limit((std::numeric_limits<std::uint64_t>::max)());
  if (!ec) {
    c.expires_after(options_.timeout);
    ec = c.with_stream([&](auto& s) {
      return run_op(c.ioc,
                    [&](auto handler) { http::async_read_header(s, c.buffer, parser, handler); });
    });
  }
  if (ec) {
    c.close();
    unreachable(where_, options_, http_unreachable::step::transfer, "GET " + path, ec);
  }

  stream_result result;
  const unsigned status = parser.get().result_int();
  result.reply.status = status;
  result.reply.content_type = std::string(parser.get()[http::field::content_type]);
  result.reply.headers = headers_of(parser.get());
  const bool success = status >= 200 && status < 300;
  char chunk[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    c.expires_after(success ? idle_timeout : options_.timeout);
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
        unreachable(where_, options_, http_unreachable::step::transfer, "GET " + path, ec);
      }
      return result;  // dropped or idle for too long: the caller reconnects
    }
  }
  c.close();
  result.ended_cleanly = true;
  return result;
}

}  // namespace kiwi
