#pragma once
// /registries: image registries: where builds push (docs/configuration.md); the test runs the registry v2 login flow.

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> list_registries(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> create_registry(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> show_registry(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> replace_registry(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> delete_registry(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> test_registry(const api_request& req, api_context& ctx);

}  // namespace kiwi
