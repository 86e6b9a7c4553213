#pragma once
// How redis_client logs in: the TLS context for rediss:// (the server's certificate always
// verified) and what Redis' refusal of AUTH or SELECT means for the operator.

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "common/config/config.hpp"

namespace kiwi {

// Null for a plain connection; throws std::runtime_error naming the redis_tls key whose file
// cannot be loaded.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const redis_endpoint& ep);

// Redis' error text for a refused AUTH or SELECT, turned into what to fix. Starts with "Redis "
// when the configuration is at fault (a wrong or missing password, a missing permission).
// Redis' error texts name no secret.
std::string login_advice(const redis_endpoint& ep, std::string_view error);

}  // namespace kiwi
