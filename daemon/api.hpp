#pragma once
// The registration REST API under /api/v1 (docs/api.md): services, registries, runtimes,
// connection tests, webhook setup, builds, the queue and API tokens. JSON in and out; errors
// are {"error": ..., "field": ...} with 400/401/403/404/409/422 used as HTTP means them.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "daemon/api_auth.hpp"
#include "common/config/config.hpp"
#include "common/queue/deployment_store.hpp"
#include "common/queue/job_queue.hpp"
#include "common/redis/redis_client.hpp"
#include "common/store/resource_store.hpp"
#include "daemon/http_types.hpp"

namespace kiwi {

// What the API needs besides the request; one per I/O thread.
struct api_context {
  const kiwi_config& config;
  redis_client& redis;
  job_queue& queue;
  resource_store& store;
  deployment_store& deployments;  // deployment revisions (docs/deploy.md#history)
  const std::string& admin_token_hash;  // api_token_hash of the admin token file's token
  auth_throttle& throttle;
};

boost::asio::awaitable<http_response> handle_api(const http_request& request, api_context& ctx,
                                                 const std::string& client_address);

// For API routes served outside handle_api (the event streams): nullopt when the request's
// token has at least `need`, else the error response (401/403, throttled like the API).
boost::asio::awaitable<std::optional<http_response>> authorize(const http_request& request,
                                                               api_context& ctx,
                                                               const std::string& client_address,
                                                               api_role need);

// Every (method, path) the API serves, paths as in docs/openapi.json ("/api/v1/services/{name}").
std::vector<std::pair<std::string, std::string>> api_route_list();

// A service by name: the config file's (read-only) first, then the registered ones.
boost::asio::awaitable<std::pair<boost::system::error_code, std::optional<service_config>>>
find_service(const kiwi_config& config, resource_store& store, const std::string& name);

}  // namespace kiwi
