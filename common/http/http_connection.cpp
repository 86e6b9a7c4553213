#include "common/http/http_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/http/error.hpp>

namespace kiwi {

namespace http = beast::http;

void http_client::connection::expires_after(std::chrono::milliseconds d) {
  if (local) {
    local->expires_after(d);
  } else {
    (secure ? beast::get_lowest_layer(*secure) : *plain).expires_after(d);
  }
}

void http_client::connection::close() {
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

namespace http_detail {

bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

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

namespace {

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

}  // namespace

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

}  // namespace http_detail
}  // namespace kiwi
