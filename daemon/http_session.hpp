#pragma once
// One HTTP/1.1 connection: read a request within its deadlines and size caps, hand it to the
// router, write the response, repeat while keep-alive lasts. Only I/O, limits and timeouts.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <set>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "daemon/connection_limits.hpp"
#include "daemon/router.hpp"

namespace kiwi {

struct session_limits {
  std::size_t max_body_bytes;      // webhook bodies (/hooks/...)
  std::size_t max_api_body_bytes;  // every other request's body
  std::chrono::milliseconds header_timeout;
  std::chrono::milliseconds body_timeout;
  std::chrono::milliseconds idle_timeout;
};

// Sessions of one I/O thread. Sessions waiting for a request register their socket here so a
// shutdown can close them; sessions inside a request finish it first. Single-threaded.
struct session_registry {
  std::set<boost::asio::ip::tcp::socket*> idle;
  bool stopping = false;
  std::size_t active = 0;                 // sessions of this thread
  connection_limits* admission = nullptr;  // process-wide; outlives every session
};

// `lease` is the connection's slot (connection_limits::admit_connection), held until the
// session ends however it ends. Exceptions never leave the session: a handler's becomes a 500.
boost::asio::awaitable<void> run_http_session(boost::asio::ip::tcp::socket socket,
                                              admission_lease lease, std::string client,
                                              session_limits limits, router_context& router,
                                              session_registry& registry);

}  // namespace kiwi
