#include "daemon/listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace kiwi {

tcp::acceptor bind_acceptor(asio::io_context& io, const std::string& host, unsigned short port) {
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive);
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  int one = 1;
  ::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

asio::awaitable<void> run_listener(tcp::acceptor& acceptor, session_limits limits,
                                   router_context& router, session_registry& registry) {
  auto executor = co_await asio::this_coro::executor;
  auto last_cap_warning = std::chrono::steady_clock::time_point{};
  const auto& caps = registry.admission->settings();
  while (!registry.stopping) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || registry.stopping) {
        break;
      }
      // EMFILE and friends: log and keep accepting after a breath.
      spdlog::warn("http: accept failed: {}", ec.message());
      asio::steady_timer pause(executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code peer_ec;
    std::string client = socket.remote_endpoint(peer_ec).address().to_string();
    if (peer_ec) {
      continue;  // gone already; the socket closes here
    }
    connection_limits::refusal why{};
    admission_lease lease = registry.admission->admit_connection(client, &why);
    if (!lease) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_cap_warning > std::chrono::seconds(10)) {
        if (why == connection_limits::refusal::per_client) {
          spdlog::warn("http: {} holds {} connections (http.max_connections_per_client); "
                       "closing its new ones",
                       client, caps.max_connections_per_client);
        } else {
          spdlog::warn("http: {} connections open (http.max_connections); closing new ones",
                       caps.max_connections);
        }
        last_cap_warning = now;
      }
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(executor,
                   run_http_session(std::move(socket), std::move(lease), std::move(client),
                                    limits, router, registry),
                   [](std::exception_ptr e) {
                     if (!e) {
                       return;
                     }
                     try {  // run_http_session catches its handlers' exceptions; this is a bug
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       spdlog::error("http: a session ended by an exception: {}", ex.what());
                     }
                   });
  }
}

}  // namespace kiwi
