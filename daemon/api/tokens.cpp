#include "daemon/api/tokens.hpp"

#include <spdlog/spdlog.h>

#include "common/base/json_fields.hpp"
#include "common/base/text_format.hpp"
#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {

asio::awaitable<api_reply> list_tokens(const api_request&, api_context& ctx) {
  auto r = co_await ctx.redis.command(redis_args("HVALS", keys::resources("api_tokens")),
                                      ctx.config.redis_timeout);
  check(r.ec);
  json items = json::array();
  for (const auto& v : r.value.elements) {
    items.push_back(json::parse(v.str, nullptr, false));
  }
  co_return ok(json{{"items", items}});
}

asio::awaitable<api_reply> create_token(const api_request& req, api_context& ctx) {
  const json body = parse_body(req);
  const std::string name = json_fields::get_string(body, "name", "name", false);
  if (!is_dns1123_label(name)) {
    throw api_error{422, "name: a DNS-1123 label such as ci-bot", "name"};
  }
  auto role = parse_api_role(json_fields::get_string(body, "role", "role", false));
  if (!role) {
    throw api_error{422, "role: must be admin, developer or viewer", "role"};
  }
  const std::string token = generate_api_token();
  const json record{{"name", name},
                    {"role", to_string(*role)},
                    {"created_at", format_timestamp(std::chrono::system_clock::now())}};
  // The name index keeps names unique and lets DELETE find the hash.
  auto taken = co_await ctx.redis.command(
      redis_args("HSETNX", keys::resources("api_token_names"), name, api_token_hash(token)),
      ctx.config.redis_timeout);
  check(taken.ec);
  if (taken.value.integer == 0) {
    throw api_error{409, "a token named \"" + name + "\" exists; delete it first", "name"};
  }
  auto r = co_await ctx.redis.command(
      redis_args("HSET", keys::resources("api_tokens"), api_token_hash(token), record.dump()),
      ctx.config.redis_timeout);
  check(r.ec);
  spdlog::info("api: token {} ({}) created", name, to_string(*role));
  json out = record;
  out["token"] = token;
  out["note"] = "shown once: store it now (kiwictl reads KIWI_TOKEN)";
  co_return ok(out, 201);
}

asio::awaitable<api_reply> delete_token(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  auto hash = co_await ctx.redis.command(
      redis_args("HGET", keys::resources("api_token_names"), name), ctx.config.redis_timeout);
  check(hash.ec);
  if (hash.value.type != redis_value::kind::string) {
    throw api_error{404, "no token named \"" + name + "\"", ""};
  }
  auto r1 = co_await ctx.redis.command(
      redis_args("HDEL", keys::resources("api_tokens"), hash.value.str), ctx.config.redis_timeout);
  check(r1.ec);
  auto r2 = co_await ctx.redis.command(
      redis_args("HDEL", keys::resources("api_token_names"), name), ctx.config.redis_timeout);
  check(r2.ec);
  spdlog::info("api: token {} revoked", name);
  co_return ok(json{{"deleted", name}});
}

}  // namespace kiwi
