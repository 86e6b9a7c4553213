#include "common/redis/redis_connector.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/redis/redis_login.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

// An unused TLS context for plain connections (ssl::stream needs one to exist).
asio::ssl::context& plain_context() {
  static asio::ssl::context unused(asio::ssl::context::tls_client);
  return unused;
}

}  // namespace

redis_connector::redis_connector(asio::any_io_executor executor, const redis_endpoint& endpoint)
    : executor_(std::move(executor)), endpoint_(endpoint), tls_(make_tls_context(endpoint)) {}

void redis_connector::stop() {
  stopped_ = true;
  if (connecting_ != nullptr) {
    boost::system::error_code ignored;
    connecting_->next_layer().close(ignored);
  }
}

asio::awaitable<redis_connector::opened> redis_connector::open(
    std::chrono::milliseconds deadline) {
  auto s = std::make_unique<redis_stream>(redis_socket(executor_), tls_ ? *tls_ : plain_context());
  connecting_ = s.get();
  asio::steady_timer timer(executor_);
  timer.expires_after(deadline);
  auto timed_out = std::make_shared<bool>(false);
  auto waiting = std::make_shared<bool>(true);  // false once this coroutine moved on
  timer.async_wait([timed_out, waiting, raw = s.get()](boost::system::error_code ec) {
    if (!ec && *waiting) {
      *timed_out = true;
      boost::system::error_code ignored;
      raw->next_layer().close(ignored);
    }
  });
  boost::system::error_code ec;
  if (!endpoint_.unix_path.empty()) {
    co_await s->next_layer().async_connect(
        asio::local::stream_protocol::endpoint(endpoint_.unix_path),
        asio::redirect_error(asio::use_awaitable, ec));
  } else {
    asio::ip::tcp::resolver resolver(executor_);
    auto found = co_await resolver.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                                                 asio::redirect_error(asio::use_awaitable, ec));
    ec = found.empty() && !ec ? asio::error::host_not_found : ec;
    for (const auto& e : found) {
      s->next_layer() = redis_socket(executor_);
      co_await s->next_layer().async_connect(e.endpoint(),
                                             asio::redirect_error(asio::use_awaitable, ec));
      if (!ec || *timed_out || stopped_) {
        break;
      }
    }
    if (!ec) {
      boost::system::error_code ignored;
      s->next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
    }
  }
  if (!ec && endpoint_.tls) {
    const std::string& server = endpoint_.tls_options.server_name.empty()
                                    ? endpoint_.host
                                    : endpoint_.tls_options.server_name;
    boost::system::error_code addr_ec;
    asio::ip::make_address(server, addr_ec);
    if (addr_ec) {  // SNI takes host names only
      SSL_set_tlsext_host_name(s->native_handle(), server.c_str());
    }
    s->set_verify_callback(asio::ssl::host_name_verification(server));
    co_await s->async_handshake(asio::ssl::stream_base::client,
                                asio::redirect_error(asio::use_awaitable, ec));
  }
  *waiting = false;
  connecting_ = nullptr;
  timer.cancel();
  opened out;
  if (stopped_) {
    out.error = "stopped";
  } else if (*timed_out) {
    out.error = "no connection within " + std::to_string(deadline.count()) + " ms";
  } else if (ec) {
    out.error = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
      out.error = "TLS: " + out.error + " (check redis_tls: ca_file, server_name, cert_file)";
    }
  } else {
    out.stream = std::move(s);
  }
  co_return out;
}

}  // namespace kiwi
