#include "common/http/http_client.hpp"

#include <cstdint>
#include <limits>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/http/http_connection.hpp"

namespace kiwi {

namespace http = beast::http;
using http_detail::is_disconnect;
using http_detail::open_connection;
using http_detail::run_op;
using http_detail::unreachable;

namespace {

constexpr std::uint64_t max_reply_bytes = 64 * 1024 * 1024;

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

http_client::http_client(http_endpoint where, http_options options)
    : where_(std::move(where)), options_(std::move(options)) {}

http_client::~http_client() {
  if (conn_) {
    conn_->close();
  }
}

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
