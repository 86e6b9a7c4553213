#include "daemon/api/webhooks.hpp"

#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/base/json_fields.hpp"
#include "common/http/http_client.hpp"
#include "daemon/webhook_installer.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

// A payload URL on a loopback address cannot be reached by a hosted forge.
std::string unreachable_public_url_warning(const kiwi_config& config) {
  const auto where = parse_http_endpoint(config.public_url);
  if (where && (where->host == "localhost" || where->host.starts_with("127.") ||
                where->host == "::1")) {
    return "public_url is " + config.public_url +
           ", which GitHub.com and GitLab.com cannot reach; set public_url to kiwid's public "
           "address";
  }
  return {};
}

}  // namespace

asio::awaitable<api_reply> webhook_setup(const api_request& req, api_context& ctx) {
  const service_config s = co_await existing_service(ctx, req.path_param("name"));
  const std::string gh = ctx.config.public_url + "/hooks/github/" + s.name;
  const std::string gl = ctx.config.public_url + "/hooks/gitlab/" + s.name;
  json j{{"service", s.name},
         {"github",
          {{"payload_url", gh},
           {"content_type", "application/json"},
           {"events", {"push"}},
           {"steps",
            {"Open the repository on GitHub: Settings > Webhooks > Add webhook.",
             "Payload URL: " + gh,
             "Content type: application/json.",
             "Secret: the service's webhook secret (GET this page with an admin token, or "
             "kiwictl webhook show " + s.name + ").",
             "Which events: Just the push event (tag pushes build only if build_tags).",
             "Active: checked. Add webhook; GitHub sends a ping, which Kiwi answers 200."}}}},
         {"gitlab",
          {{"payload_url", gl},
           {"events", {"Push events", "Tag push events"}},
           {"steps",
            {"Open the project on GitLab: Settings > Webhooks > Add new webhook.",
             "URL: " + gl,
             "Secret token: the service's webhook secret.",
             "Trigger: Push events (and Tag push events if build_tags), all branches.",
             "Enable SSL verification if kiwid is served over https. Add webhook, then "
             "Test > Push events."}}}},
         {"webhook_secret", "***"}};
  if (role_allows(req.role, api_role::admin)) {
    j["webhook_secret"] = s.webhook_secret;
  }
  co_return ok(j);
}

asio::awaitable<api_reply> rotate_webhook_secret(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  if (ctx.config.find_service(name) != nullptr) {
    throw api_error{409, "service \"" + name +
                             "\" is declared in the config file; change its webhook_secret "
                             "there",
                    ""};
  }
  service_config s = co_await existing_service(ctx, name);
  s.webhook_secret = random_secret();
  auto [ec, stored] = co_await ctx.store.put(s, false);
  check(ec);
  spdlog::info("api: webhook secret of {} rotated", name);
  co_return ok(json{{"service", name},
                    {"webhook_secret", s.webhook_secret},
                    {"next", "update the secret in the GitHub/GitLab webhook settings; "
                             "deliveries signed with the old secret now get 401"}});
}

// Creates or updates the hook on GitHub/GitLab with the service's token. The body may name
// the forge for self-hosted hosts: {"provider": "github"|"gitlab", "api_url": "..."}.
asio::awaitable<api_reply> install_webhook_hook(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  const service_config s = co_await existing_service(ctx, name);
  const json body = parse_optional_body(req);
  if (s.token.empty()) {
    throw api_error{422,
                    "token: the service has no token; installing a webhook needs one with "
                    "admin:repo_hook (GitHub) or api (GitLab) scope. Or add the hook by hand: "
                    "GET /api/v1/services/" + name + "/webhook",
                    "token"};
  }
  webhook_install_request request;
  try {
    json_fields::reject_unknown(body, "", {"provider", "api_url"});
    request.target =
        forge_target_for(s.git_url, json_fields::get_string(body, "provider", "provider", false),
                         json_fields::get_string(body, "api_url", "api_url", false));
  } catch (const field_error& e) {
    throw api_error{422, e.field + ": " + e.what(), e.field};
  }
  request.token = s.token;
  request.payload_url = ctx.config.public_url + "/hooks/" + request.target.provider + "/" + s.name;
  request.secret = s.webhook_secret;
  request.branch = s.branch;
  request.tag_pushes = s.build_tags;
  auto executor = co_await asio::this_coro::executor;
  auto work = [request]() { return install_webhook(request); };
  const webhook_install_result result = co_await run_blocking(blocking_pool(), executor, work);
  if (!result.ok) {
    spdlog::warn("api: webhook install for {} failed: {}", name, result.error);
    co_return ok(json{{"ok", false}, {"error", result.error}},
                 result.upstream_unreachable ? 502 : 422);
  }
  spdlog::info("api: webhook of {} {} on {} ({})", name, result.action, request.target.provider,
               request.target.project);
  json answer{{"ok", true},
              {"message", result.action + " on " + request.target.provider + " for " +
                              request.target.project},
              {"provider", request.target.provider},
              {"project", request.target.project},
              {"action", result.action},
              {"hook_id", result.hook_id},
              {"payload_url", request.payload_url}};
  if (const std::string w = unreachable_public_url_warning(ctx.config); !w.empty()) {
    answer["warning"] = w;
  }
  co_return ok(answer, result.action == "created" ? 201 : 200);
}

}  // namespace kiwi
