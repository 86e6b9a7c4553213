#pragma once
// kiwid's request handling: request in, response out. No sockets here; the http_session does
// the I/O. Handlers that need Redis await it through the per-thread context.

#include <atomic>
#include <cstddef>
#include <optional>

#include <boost/asio/awaitable.hpp>

#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "common/redis/redis_client.hpp"
#include "daemon/api.hpp"
#include "daemon/connection_limits.hpp"
#include "daemon/event_hub.hpp"
#include "daemon/http_types.hpp"
#include "daemon/metrics.hpp"

namespace kiwi {

// Everything a handler may use; one per I/O thread (redis and queue belong to that thread).
struct router_context {
  const kiwi_config& config;
  redis_client& redis;
  job_queue& queue;
  metrics& stats;
  const std::atomic<std::size_t>& open_connections;
  api_context* api = nullptr;  // null when the API is disabled
  event_hub* events = nullptr;  // the SSE fan-out; null when the API is disabled
  connection_limits* admission = nullptr;  // process-wide caps (event streams per client)
};

// client: the peer's address (API throttling of bad tokens).
boost::asio::awaitable<http_response> handle_request(const http_request& req,
                                                     router_context& ctx,
                                                     const std::string& client);

// Screens a request whose headers are in, before its body is read: a webhook with the wrong
// method or for a service kiwid does not know is answered at once, its body never buffered.
// nullopt: read the body and handle the request.
boost::asio::awaitable<std::optional<http_response>> screen_request(const http_request& req,
                                                                    router_context& ctx);

}  // namespace kiwi
