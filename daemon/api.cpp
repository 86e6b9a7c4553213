#include "daemon/api.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/redis/redis_keys.hpp"
#include "common/security/crypto.hpp"
#include "daemon/api/reply.hpp"
#include "daemon/api/routes.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

// Authentication, routing and errors for every /api/v1 request: the handlers themselves are
// daemon/api/*.cpp, listed in the route table (daemon/api/routes.cpp).

namespace kiwi {
namespace {

api_reply error_reply(const api_error& e) {
  json body{{"error", e.message}};
  if (!e.field.empty()) {
    body["field"] = e.field;
  }
  api_reply reply = ok(body, e.status);
  if (e.retry_after.count() > 0) {
    reply.headers.emplace_back("Retry-After", std::to_string(e.retry_after.count()));
  }
  return reply;
}

http_response http_of(const http_request& req, api_reply reply) {
  http_response res =
      json_response(req, reply.status, reply.raw ? std::move(*reply.raw) : answer_json(reply.body));
  if (!reply.content_type.empty()) {
    res.set(http::field::content_type, reply.content_type);
  }
  for (const auto& [name, value] : reply.headers) {
    res.set(name, value);
  }
  return res;
}

// The path after /api/v1/, split at '/'; the query string apart.
std::pair<std::vector<std::string>, std::string> split_target(std::string_view target) {
  std::vector<std::string> parts;
  std::string query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  target.remove_prefix(std::string_view("/api/v1/").size());
  while (!target.empty()) {
    auto slash = target.find('/');
    parts.emplace_back(target.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    target.remove_prefix(slash + 1);
  }
  return {std::move(parts), std::move(query)};
}

// The role and name of the request's bearer token ("admin" for the admin token file's); 401
// for none or a bad one, 429 (with Retry-After) once its address sent too many bad ones.
asio::awaitable<std::pair<api_role, std::string>> authenticate(const http_request& req, api_context& ctx,
                                       const std::string& client) {
  auto attempt = ctx.throttle.begin(client, auth_throttle::clock::now());
  if (attempt.refused()) {
    throw api_error{429,
                    "too many bad tokens from " + client + "; retry in " +
                        std::to_string(attempt.retry_after().count()) + " s",
                    "", attempt.retry_after()};
  }
  if (attempt.wait().count() > 0) {
    asio::steady_timer t(co_await asio::this_coro::executor, attempt.wait());
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  auto header = req[http::field::authorization];
  if (!header.starts_with("Bearer ") || header.size() <= 7) {
    attempt.failed(auth_throttle::clock::now());
    throw api_error{401, "missing bearer token: send Authorization: Bearer <token> (kiwictl "
                         "reads KIWI_TOKEN)", ""};
  }
  const std::string hash = api_token_hash(std::string_view(header).substr(7));
  if (constant_time_equal(hash, ctx.admin_token_hash)) {
    co_return std::pair{api_role::admin, std::string("admin")};
  }
  auto r = co_await ctx.redis.command(redis_args("HGET", keys::resources("api_tokens"), hash),
                                      ctx.config.redis_timeout);
  check(r.ec);
  if (r.value.type == redis_value::kind::string) {
    json t = json::parse(r.value.str, nullptr, false);
    if (auto role = parse_api_role(t.is_object() ? t.value("role", "") : ""); role) {
      co_return std::pair{*role, t.value("name", "")};
    }
  }
  attempt.failed(auth_throttle::clock::now());
  throw api_error{401, "invalid or revoked token", ""};
}

// The first route of the table whose path and method match; 405 naming the allowed methods
// when only the path does, 404 when nothing does.
asio::awaitable<api_reply> dispatch(const http_request& req, api_context& ctx,
                                    const std::string& client) {
  if (!ctx.config.api.enabled) {
    throw api_error{404, "the API is disabled (api.enabled is false)", ""};
  }
  auto [segments, query] = split_target(std::string_view(req.target().data(), req.target().size()));
  const auto [role, token_name] = co_await authenticate(req, ctx, client);
  std::string allowed;
  for (const api_route& route : api_routes()) {
    if (route.handler == nullptr) {
      continue;  // served ahead of the API (event streams)
    }
    auto params = match_route(route.path, segments);
    if (!params) {
      continue;
    }
    if (route.method == req.method_string() ||
        (route.method == "GET" && req.method() == http::verb::head)) {
      require_role(role, route.role);
      const api_request request{req.method_string(), std::move(*params), std::move(query),
                                req.body(), role, token_name};
      co_return co_await route.handler(request, ctx);
    }
    allowed += (allowed.empty() ? "" : ", ") + std::string(route.method);
  }
  if (!allowed.empty()) {
    throw api_error{405,
                    "method " + std::string(req.method_string()) + " is not allowed here; use " +
                        allowed,
                    ""};
  }
  throw api_error{404, "no such API route: " + std::string(req.method_string()) + " " +
                           std::string(req.target()) + " (see /api/v1/openapi.json)",
                  ""};
}

// Every failure as its answer: api_error as it says, the rest as 422 or 500, logged once.
asio::awaitable<api_reply> answer(const http_request& req, api_context& ctx,
                                  const std::string& client) {
  try {
    co_return co_await dispatch(req, ctx, client);
  } catch (const api_error& e) {
    if (e.status >= 500) {
      spdlog::warn("api {} {}: {} {}", std::string(req.method_string()),
                   std::string(req.target()), e.status, e.message);
    }
    co_return error_reply(e);
  } catch (const secret_store_error& e) {
    spdlog::error("api: {}", e.what());
    co_return error_reply(api_error{500, e.what(), ""});
  } catch (const field_error& e) {  // a request body's field of the wrong type
    co_return error_reply(api_error{422, e.field + ": " + e.what(), e.field});
  } catch (const json::exception& e) {  // a body field read without json_fields
    spdlog::warn("api {} {}: 422 {}", std::string(req.method_string()), loggable(req.target()),
                 e.what());
    co_return error_reply(api_error{
        422, "a field of the request body has the wrong type (" + std::string(e.what()) + ")", ""});
  } catch (const std::exception& e) {
    spdlog::error("api {} {}: 500 {}", std::string(req.method_string()), loggable(req.target()),
                  e.what());
    co_return error_reply(api_error{500, "internal error; kiwid's log has the details", ""});
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> api_route_list() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const api_route& r : api_routes()) {
    out.emplace_back(std::string(r.method), "/api/v1" + std::string(r.path));
  }
  return out;
}

asio::awaitable<std::pair<boost::system::error_code, std::optional<service_config>>>
find_service(const kiwi_config& config, resource_store& store, const std::string& name) {
  if (const service_config* s = config.find_service(name)) {
    co_return std::pair{boost::system::error_code{}, std::optional<service_config>(*s)};
  }
  co_return co_await store.service(name);
}

asio::awaitable<std::optional<http_response>> authorize(const http_request& request,
                                                        api_context& ctx,
                                                        const std::string& client_address,
                                                        api_role need) {
  try {
    require_role((co_await authenticate(request, ctx, client_address)).first, need);
  } catch (const api_error& e) {
    co_return http_of(request, error_reply(e));
  }
  co_return std::nullopt;
}

asio::awaitable<http_response> handle_api(const http_request& request, api_context& ctx,
                                          const std::string& client_address) {
  co_return http_of(request, co_await answer(request, ctx, client_address));
}

}  // namespace kiwi
