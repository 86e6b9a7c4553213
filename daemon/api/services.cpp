#include "daemon/api/services.hpp"

#include <algorithm>

#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/security/url_authority.hpp"
#include "daemon/api/preview.hpp"
#include "daemon/api/stored_resources.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

json service_json(const api_context& ctx, const service_config& s) {
  json j = with_source(to_json(s), s.read_only);
  j["webhook_url"] = {{"github", ctx.config.public_url + "/hooks/github/" + s.name},
                      {"gitlab", ctx.config.public_url + "/hooks/gitlab/" + s.name}};
  return j;
}

// References to registries and runtimes must exist (config or API).
asio::awaitable<void> check_references(api_context& ctx, const service_config& s) {
  if (!s.registry.empty() && ctx.config.find_registry(s.registry) == nullptr) {
    auto [ec, reg] = co_await ctx.store.registry(s.registry);
    check(ec);
    if (!reg) {
      throw api_error{422, "registry: no registry named \"" + s.registry + "\"", "registry"};
    }
  }
  for (std::size_t i = 0; i < s.deploy.size(); ++i) {
    const std::string& name = s.deploy[i].runtime;
    if (ctx.config.find_runtime(name) == nullptr) {
      auto [ec, found] = co_await ctx.store.runtime(name);
      check(ec);
      if (!found) {
        const std::string field = "deploy[" + std::to_string(i) + "].runtime";
        throw api_error{422, field + ": no runtime named \"" + name + "\"", field};
      }
    }
  }
  if (s.build_runtime != "local") {
    std::optional<runtime_config> rt;
    if (const auto* c = ctx.config.find_runtime(s.build_runtime)) {
      rt = *c;
    } else {
      auto [ec, found] = co_await ctx.store.runtime(s.build_runtime);
      check(ec);
      rt = found;
    }
    if (!rt || rt->type != "kubernetes") {
      throw api_error{422,
                      "build_runtime: \"" + s.build_runtime +
                          "\" is not a kubernetes runtime; use \"local\" for buildah",
                      "build_runtime"};
    }
  }
}

asio::awaitable<api_reply> save_service(api_context& ctx, service_config s, bool create) {
  if (s.webhook_secret.empty()) {
    if (!create) {
      // Keep the current secret when an update does not send one.
      auto [ec, old] = co_await ctx.store.service(s.name);
      check(ec);
      if (old) {
        s.webhook_secret = old->webhook_secret;
      }
    }
    if (s.webhook_secret.empty()) {
      s.webhook_secret = random_secret();
    }
  }
  co_await check_references(ctx, s);
  auto [ec, stored] = co_await ctx.store.put(s, create);
  check(ec);
  if (!stored) {
    throw api_error{409, "a service named \"" + s.name + "\" already exists", "name"};
  }
  spdlog::info("api: service {} {}", s.name, create ? "registered" : "updated");
  co_return ok(service_json(ctx, s), create ? 201 : 200);
}

asio::awaitable<api_reply> probe(const api_request& req, const service_config& s) {
  const probe_request request = probe_request_of(s);
  auto executor = co_await asio::this_coro::executor;
  auto work = [request]() { return probe_remote(request); };
  const probe_result result = co_await run_blocking(blocking_pool(), executor, work);
  json answer;
  if (!result.ok && !role_allows(req.role, api_role::admin) &&
      (result.error_kind == "timeout" || result.error_kind == "other")) {
    // Refused, silent, unresolvable or not git at all read the same to non-admins: the
    // connection test is not a port scanner of the Kiwi host's network.
    answer = json{{"ok", false},
                  {"error", "Could not reach a git server at " + endpoint_of(s.git_url) +
                                ": check the URL, firewall settings and the git server "
                                "status (an admin's connection test shows why)"},
                  {"kind", "unreachable"}};
  } else if (!result.ok) {
    answer = json{{"ok", false}, {"error", result.error}, {"kind", result.error_kind}};
  } else {
    answer = json{{"ok", true},
                  {"branches", result.branches},
                  {"default_branch", result.default_branch},
                  {"branch_exists", std::find(result.branches.begin(), result.branches.end(),
                                              s.branch) != result.branches.end()}};
  }
  // ssh: the server's key, to compare with the git host's published fingerprint and pin.
  if (!result.host_key.empty()) {
    answer["host_key"] = result.host_key;
    answer["host_key_pinned"] = !s.ssh_known_hosts.empty();
    if (!result.host_key_line.empty()) {
      answer["known_hosts_line"] = result.host_key_line;
    }
  }
  co_return ok(answer, result.ok ? 200 : 422);
}

}  // namespace

probe_request probe_request_of(const service_config& s) {
  probe_request request;
  request.git_url = s.git_url;
  request.username = s.git_username;
  request.token = s.token;
  request.ssh_key = s.ssh_key;
  request.ssh_known_hosts = s.ssh_known_hosts;
  request.timeout = std::chrono::seconds(10);
  return request;
}

asio::awaitable<api_reply> list_services(const api_request&, api_context& ctx) {
  auto [ec, stored] = co_await ctx.store.services();
  check(ec);
  json items = json::array();
  for (const auto& s : ctx.config.services) {
    items.push_back(service_json(ctx, s));
  }
  for (const auto& s : stored) {
    if (ctx.config.find_service(s.name) == nullptr) {
      items.push_back(service_json(ctx, s));
    }
  }
  co_return ok(json{{"items", items}});
}

asio::awaitable<api_reply> show_service(const api_request& req, api_context& ctx) {
  const service_config s = co_await existing_service(ctx, req.path_param("name"));
  co_return ok(service_json(ctx, s));
}

asio::awaitable<api_reply> create_service(const api_request& req, api_context& ctx) {
  const json body = parse_body(req);
  service_config s = parse_resource(parse_service, body);
  if (ctx.config.find_service(s.name) != nullptr) {
    throw api_error{409, "service \"" + s.name + "\" is declared in the config file", "name"};
  }
  co_return co_await save_service(ctx, std::move(s), true);
}

asio::awaitable<api_reply> replace_service(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  json body = parse_body(req);
  if (ctx.config.find_service(name) != nullptr) {
    throw api_error{409, "service \"" + name + "\" is declared in the config file; change it there",
                    ""};
  }
  if (body.contains("name") && body["name"] != name) {
    throw api_error{422, "name: a service cannot be renamed; delete it and register it anew",
                    "name"};
  }
  body["name"] = name;
  strip_read_only(body);
  auto [ec, old] = co_await ctx.store.service(name);
  check(ec);
  if (!old) {
    throw api_error{404, "no service named \"" + name + "\"", ""};
  }
  // Secrets shown as "***" (or left out) keep their stored value while the host stays.
  keep_stored_secrets(body, *old);
  service_config s = parse_resource(parse_service, body);
  co_return co_await save_service(ctx, std::move(s), false);
}

asio::awaitable<api_reply> delete_service(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  api_reply reply = co_await delete_resource(ctx, resource_kind::service, name);
  // kiwid's preview mirror of it goes too (the workers' mirrors are on their own disks).
  auto executor = co_await asio::this_coro::executor;
  auto remove = [dir = preview_mirror_dir(ctx, name)]() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return true;
  };
  co_await run_blocking(blocking_pool(), executor, remove);
  co_return reply;
}

asio::awaitable<api_reply> test_connection_form(const api_request& req, api_context&) {
  json body = parse_body(req);
  // The form before saving: name and branch may still be empty.
  if (!body.contains("name")) body["name"] = "connection-test";
  if (!body.contains("branch")) body["branch"] = "main";
  const service_config s = parse_resource(parse_service, body);
  // file:// reads the Kiwi host's own disk: admins (and the config file) only.
  if (s.git_url.starts_with("file://") && !role_allows(req.role, api_role::admin)) {
    throw api_error{403,
                    "git_url: file:// URLs read repositories on the Kiwi host itself; only "
                    "admins may test them",
                    "git_url"};
  }
  co_return co_await probe(req, s);
}

asio::awaitable<api_reply> test_connection_saved(const api_request& req, api_context& ctx) {
  const service_config s = co_await existing_service(ctx, req.path_param("name"));
  co_return co_await probe(req, s);
}

}  // namespace kiwi
