#pragma once
// /services/{name}/webhook: how to set up the service's webhook on GitHub and GitLab (the
// secret for admins only), rotating its secret, and installing the hook with the service's
// token (daemon/webhook_installer.hpp).

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> webhook_setup(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> rotate_webhook_secret(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> install_webhook_hook(const api_request& req, api_context& ctx);

}  // namespace kiwi
