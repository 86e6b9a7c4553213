#pragma once
// /runtimes: Kubernetes and Docker runtimes (docs/configuration.md); the test asks the endpoint for its version with the runtime's credentials.

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> list_runtimes(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> create_runtime(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> show_runtime(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> replace_runtime(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> delete_runtime(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> test_runtime(const api_request& req, api_context& ctx);

}  // namespace kiwi
