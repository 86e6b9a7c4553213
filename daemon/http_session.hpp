#pragma once
// One HTTP/1.1 connection: read a request within its deadlines and size caps, hand it to the
// router, write the response, repeat while keep-alive lasts. Only I/O, limits and timeouts.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <set>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "daemon/router.hpp"

namespace kiwi {

struct session_limits {
  std::size_t max_body_bytes;
  std::chrono::milliseconds header_timeout;
  std::chrono::milliseconds body_timeout;
  std::chrono::milliseconds idle_timeout;
};

// Sessions of one I/O thread. Sessions waiting for a request register their socket here so a
// shutdown can close them; sessions inside a request finish it first. Single-threaded.
struct session_registry {
  std::set<boost::asio::ip::tcp::socket*> idle;
  bool stopping = false;
  std::size_t active = 0;                    // sessions of this thread
  std::atomic<std::size_t>* open = nullptr;  // process-wide count of open connections
};

boost::asio::awaitable<void> run_http_session(boost::asio::ip::tcp::socket socket,
                                              session_limits limits, router_context& router,
                                              session_registry& registry);

}  // namespace kiwi
