#pragma once
// Inside the http library only: http_client's open connection (plain TCP, TLS over TCP or a unix
// socket, Beast types) and the steps the client shares: run one operation under its deadline,
// open a connection, report an unreachable server.

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "common/http/http_client.hpp"

namespace kiwi {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

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

  void expires_after(std::chrono::milliseconds d);

  template <class F>
  error_code with_stream(F&& f) {
    if (local) {
      return f(*local);
    }
    return secure ? f(*secure) : f(*plain);
  }

  void close();
};

namespace http_detail {

// Runs one asynchronous operation to completion on `ioc`: the operations are asynchronous only
// so that beast::tcp_stream's deadlines apply to them.
template <class Initiate>
inline error_code run_op(asio::io_context& ioc, Initiate&& initiate) {
  error_code result = asio::error::would_block;
  initiate([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

// Resolves, connects and (https) shakes hands, each step under options.connect_timeout; throws
// http_unreachable naming the step.
std::unique_ptr<http_client::connection> open_connection(const http_endpoint& where,
                                                         const http_options& options);

// Throws http_unreachable: "cannot reach <peer> at <url> (<what>: <reason>)" and the hint.
[[noreturn]] void unreachable(const http_endpoint& where, const http_options& options,
                              http_unreachable::step step, std::string_view what,
                              const error_code& ec);

// The server closed the connection (an idle keep-alive connection it dropped, say).
bool is_disconnect(const error_code& ec);

}  // namespace http_detail
}  // namespace kiwi
