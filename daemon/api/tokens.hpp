#pragma once
// /tokens: API tokens with a role (admin, developer, viewer), stored hashed; a new token is
// shown once.

#include "daemon/api/reply.hpp"

namespace kiwi {

boost::asio::awaitable<api_reply> list_tokens(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> create_token(const api_request& req, api_context& ctx);
boost::asio::awaitable<api_reply> delete_token(const api_request& req, api_context& ctx);

}  // namespace kiwi
