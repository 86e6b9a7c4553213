#include "daemon/router.hpp"

#include <array>
#include <optional>

#include <boost/beast/http/verb.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/queue/build_event.hpp"
#include "common/redis/redis_keys.hpp"
#include "daemon/webhook/github.hpp"
#include "daemon/webhook/gitlab.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace kiwi {
namespace {

using json = nlohmann::json;

http_response method_not_allowed(const http_request& req, std::string_view allowed) {
  auto res = error_response(req, 405,
                            "method " + std::string(req.method_string()) +
                                " is not allowed here; use " + std::string(allowed));
  res.set(http::field::allow, allowed);
  return res;
}

// {"build_id":...,"number":...,"status":...}, the answer to every accepted webhook, written
// directly rather than through a JSON tree (keys in the order nlohmann's sorted map gives).
std::string build_answer(std::string_view status, std::string_view build_id,
                         std::optional<long long> number) {
  std::string out;
  out.reserve(96);
  out += R"({"build_id":)";
  append_json_string(out, build_id);
  if (number) {
    out += R"(,"number":)";
    out += std::to_string(*number);
  }
  out += R"(,"status":)";
  append_json_string(out, status);
  out += '}';
  return out;
}

asio::awaitable<http_response> readyz(const http_request& req, router_context& ctx) {
  auto r = co_await ctx.redis.command(redis_args("PING"), std::min(ctx.config.redis_timeout,
                                                         std::chrono::milliseconds(500)));
  if (!r) {
    co_return json_response(req, 503,
                            json{{"status", "not ready"},
                                 {"reason", "Redis is unreachable: " + r.ec.message()}}
                                .dump(-1, ' ', false, json::error_handler_t::replace));
  }
  co_return json_response(req, 200, R"({"status":"ready"})");
}

asio::awaitable<http_response> metrics_page(const http_request& req, router_context& ctx) {
  auto r = co_await ctx.redis.command(redis_args("HGETALL", keys::job_outcomes()), ctx.config.redis_timeout);
  std::vector<std::pair<std::string, std::string>> outcomes;
  for (std::size_t i = 0; r && i + 1 < r.value.elements.size(); i += 2) {
    outcomes.emplace_back(r.value.elements[i].str, r.value.elements[i + 1].str);
  }
  http_response res{http::status::ok, req.version()};
  res.set(http::field::server, "kiwid");
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.keep_alive(req.keep_alive());
  res.body() = ctx.stats.render(outcomes, ctx.open_connections.load(), static_cast<bool>(r));
  res.prepare_payload();
  co_return res;
}

// A /hooks/<provider>/<service> path: the provider, whose intake verifies, parses and decides,
// and the service's name.
struct webhook_route {
  git_provider provider;
  webhook::intake_function intake;
  std::string_view service;
};

std::optional<webhook_route> find_webhook_route(std::string_view target) {
  struct entry {
    std::string_view prefix;
    git_provider provider;
    webhook::intake_function intake;
  };
  static constexpr std::array<entry, 2> table{
      {{"/hooks/github/", git_provider::github, &webhook::github::intake},
       {"/hooks/gitlab/", git_provider::gitlab, &webhook::gitlab::intake}}};
  for (const entry& e : table) {
    if (target.starts_with(e.prefix)) {
      return webhook_route{e.provider, e.intake, target.substr(e.prefix.size())};
    }
  }
  return std::nullopt;
}

asio::awaitable<http_response> handle_webhook(const http_request& req, router_context& ctx,
                                              const webhook_route& route) {
  const git_provider provider = route.provider;
  const std::string_view service_name = route.service;
  auto finish = [&](http_response res) {
    ctx.stats.count_webhook(provider, res.result_int());
    return res;
  };
  auto reject = [&](unsigned status, const std::string& message) {
    spdlog::warn("webhook {} {}: {} {}", provider_name(provider), service_name, status, message);
    return finish(error_response(req, status, message));
  };
  if (req.method() != http::verb::post) {
    co_return reject(405, "method " + std::string(req.method_string()) +
                              " is not allowed for webhooks; git servers POST them");
  }
  const service_config* service = ctx.config.find_service(service_name);
  std::optional<service_config> registered;  // a service registered through the API
  if (service == nullptr && ctx.api != nullptr && is_dns1123_label(service_name)) {
    const std::string name(service_name);
    std::pair<boost::system::error_code, std::optional<service_config>> lookup;
    try {
      lookup = co_await find_service(ctx.config, ctx.api->store, name);
    } catch (const std::exception& e) {  // a stored secret that the key cannot open
      spdlog::error("webhook {}: {}", name, e.what());
      co_return finish(error_response(req, 500, "the service's stored secrets cannot be read; "
                                                "see kiwid's log"));
    }
    auto& [ec, found] = lookup;
    if (ec) {
      auto res = error_response(req, 503, "the service registry is unavailable (" +
                                              ec.message() + "); the git server should retry");
      res.set(http::field::retry_after, "5");
      co_return finish(std::move(res));
    }
    registered = std::move(found);
    service = registered ? &*registered : nullptr;
  }
  if (service == nullptr) {
    co_return reject(404, "unknown service \"" + std::string(service_name) +
                              "\": check the service name at the end of the webhook URL");
  }
  webhook::intake_decision decision =
      route.intake(req, *service, std::chrono::system_clock::now());
  if (!decision.job) {
    if (decision.is_error()) {
      co_return reject(decision.status, decision.error);
    }
    ctx.stats.count_decision("ignored");
    co_return finish(json_response(req, decision.status, std::move(decision.body)));
  }

  decision.job->replay_window = ctx.config.webhook_replay_window;
  auto started = std::chrono::steady_clock::now();
  auto [ec, outcome] = co_await ctx.queue.enqueue(*decision.job);
  if (ec) {
    std::string message = "the job queue is unavailable (" + ec.message() +
                          "); nothing was queued, the git server should retry";
    spdlog::warn("webhook {} {}: 503 {}", provider_name(provider), service_name, message);
    auto res = error_response(req, 503, message);
    res.set(http::field::retry_after, "5");
    co_return finish(std::move(res));
  }
  ctx.stats.observe_enqueue(std::chrono::steady_clock::now() - started);
  if (!outcome.created) {
    ctx.stats.count_decision("duplicate");
    co_return finish(
        json_response(req, 200, build_answer("duplicate", outcome.build_id, std::nullopt)));
  }
  ctx.stats.count_decision("queued");
  spdlog::info("build {} queued: {} {} {} ({})", outcome.build_id, service->name,
               decision.job->queued_event.ref, decision.job->queued_event.sha,
               provider_name(provider));
  co_return finish(
      json_response(req, 202, build_answer("queued", outcome.build_id, outcome.number)));
}

std::string_view path_of(const http_request& req) {
  std::string_view target(req.target().data(), req.target().size());
  return target.substr(0, target.find('?'));
}

}  // namespace

asio::awaitable<std::optional<http_response>> screen_request(const http_request& req,
                                                             router_context& ctx) {
  auto hook = find_webhook_route(path_of(req));
  if (!hook) {
    co_return std::nullopt;
  }
  const git_provider provider = hook->provider;
  const std::string_view name = hook->service;
  auto refuse = [&](unsigned status, const std::string& message) {
    spdlog::warn("webhook {} {}: {} {}", provider_name(provider), loggable(name), status, message);
    ctx.stats.count_webhook(provider, static_cast<int>(status));
    auto res = error_response(req, status, message);
    res.keep_alive(false);  // the body was not read
    return res;
  };
  if (req.method() != http::verb::post) {
    co_return refuse(405, "method " + std::string(req.method_string()) +
                              " is not allowed for webhooks; git servers POST them");
  }
  if (ctx.config.find_service(name) != nullptr) {
    co_return std::nullopt;
  }
  bool known = false;
  if (ctx.api != nullptr && is_dns1123_label(name)) {
    try {
      auto [ec, found] = co_await find_service(ctx.config, ctx.api->store, std::string(name));
      known = ec || found.has_value();  // Redis down: the handler answers 503 after the body
    } catch (const std::exception&) {
      known = true;  // unreadable stored secrets: the handler reports it
    }
  }
  if (!known) {
    co_return refuse(404, "unknown service \"" + std::string(name) +
                              "\": check the service name at the end of the webhook URL");
  }
  co_return std::nullopt;
}

asio::awaitable<http_response> handle_request(const http_request& req, router_context& ctx,
                                              const std::string& client) {
  std::string_view target(req.target().data(), req.target().size());
  if (auto q = target.find('?'); q != std::string_view::npos) {
    target = target.substr(0, q);
  }
  if (target.starts_with("/api/v1/")) {
    if (ctx.api == nullptr) {
      co_return error_response(req, 404, "the API is disabled (api.enabled is false)");
    }
    co_return co_await handle_api(req, *ctx.api, client);
  }
  if (auto hook = find_webhook_route(target)) {
    co_return co_await handle_webhook(req, ctx, *hook);
  }
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (target == "/healthz") {
    if (!get) {
      co_return method_not_allowed(req, "GET");
    }
    co_return json_response(req, 200, R"({"status":"ok"})");
  }
  if (target == "/readyz") {
    if (!get) {
      co_return method_not_allowed(req, "GET");
    }
    co_return co_await readyz(req, ctx);
  }
  if (target == "/metrics") {
    if (!get) {
      co_return method_not_allowed(req, "GET");
    }
    co_return co_await metrics_page(req, ctx);
  }
  co_return error_response(req, 404,
                           "no such endpoint " + std::string(target) +
                               "; webhooks go to /hooks/github/<service> or "
                               "/hooks/gitlab/<service>");
}

}  // namespace kiwi
