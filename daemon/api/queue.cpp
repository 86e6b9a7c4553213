#include "daemon/api/queue.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {

asio::awaitable<api_reply> queue_stats(const api_request&, api_context& ctx) {
  json j{{"outcomes", json::object()}, {"waiting", json::object()}};
  auto outcomes = co_await ctx.redis.command(redis_args("HGETALL", keys::job_outcomes()),
                                             ctx.config.redis_timeout);
  check(outcomes.ec);
  for (std::size_t i = 0; i + 1 < outcomes.value.elements.size(); i += 2) {
    j["outcomes"][outcomes.value.elements[i].str] =
        std::atoll(outcomes.value.elements[i + 1].str.c_str());
  }
  for (const auto& [key, name] : {std::pair{keys::leases(), "running"},
                                  std::pair{keys::delayed(), "retrying"}}) {
    auto n = co_await ctx.redis.command(redis_args("ZCARD", key), ctx.config.redis_timeout);
    check(n.ec);
    j[name] = n.value.integer;
  }
  auto dead = co_await ctx.redis.command(redis_args("XLEN", keys::dead_letters()),
                                         ctx.config.redis_timeout);
  check(dead.ec);
  j["dead_letters"] = dead.value.integer;
  auto [ec, names] = co_await ctx.store.names(resource_kind::service);
  check(ec);
  for (const auto& s : ctx.config.services) {
    names.push_back(s.name);
  }
  for (const auto& name : names) {
    auto n = co_await ctx.redis.command(redis_args("LLEN", keys::service_waiting(name)),
                                        ctx.config.redis_timeout);
    check(n.ec);
    j["waiting"][name] = n.value.integer;
  }
  co_return ok(j);
}

asio::awaitable<api_reply> list_dead_letters(const api_request& req, api_context& ctx) {
  const std::string count =
      std::to_string(std::clamp(std::atol(req.query_or("limit", "50").c_str()), 1L, 500L));
  auto res = co_await ctx.redis.command(
      redis_args("XREVRANGE", keys::dead_letters(), "+", "-", "COUNT", count),
      ctx.config.redis_timeout);
  check(res.ec);
  json items = json::array();
  for (const auto& e : res.value.elements) {
    json item{{"id", e.elements.at(0).str}};
    const auto& kv = e.elements.at(1).elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
      item[kv[i].str] = kv[i + 1].str;
    }
    items.push_back(item);
  }
  co_return ok(json{{"items", items}});
}

asio::awaitable<api_reply> requeue_dead_letter(const api_request& req, api_context& ctx) {
  const std::string& entry = req.path_param("id");
  const std::string message = "requeued from the dead-letter stream through the API";
  auto [ec, build] = co_await ctx.queue.requeue_dead(entry, message);
  check(ec);
  if (build.empty()) {
    throw api_error{404, "no dead letter " + entry + " (ids come from GET /dead-letters)", ""};
  }
  spdlog::info("api: build {} requeued from the dead-letter stream", build);
  co_return ok(json{{"build_id", build}, {"status", "queued"}}, 202);
}

}  // namespace kiwi
