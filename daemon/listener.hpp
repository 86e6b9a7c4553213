#pragma once
// Accepts connections on one I/O thread's acceptor and starts a session for each, within the
// connection caps (connection_limits: in total and per client address; connections beyond
// them are closed at once).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "daemon/http_session.hpp"

namespace kiwi {

boost::asio::awaitable<void> run_listener(boost::asio::ip::tcp::acceptor& acceptor,
                                          session_limits limits, router_context& router,
                                          session_registry& registry);

// Binds host:port with SO_REUSEPORT so that several I/O threads can share one port.
boost::asio::ip::tcp::acceptor bind_acceptor(boost::asio::io_context& io, const std::string& host,
                                             unsigned short port);

}  // namespace kiwi
