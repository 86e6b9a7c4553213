#pragma once
// /services: register, show, replace and delete services, and test their repository
// connection (ls-remote with the service's credentials) before or after saving.

#include "common/git/remote_probe.hpp"
#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> list_services(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> create_service(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> show_service(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> replace_service(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> delete_service(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> test_connection_form(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> test_connection_saved(const api_request& req, api_context& ctx);

// ls-remote of the service's repository with its credentials, 10 s deadline.
probe_request probe_request_of(const service_config& s);

}  // namespace kiwi
