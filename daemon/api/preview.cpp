#include "daemon/api/preview.hpp"

#include <algorithm>

#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/build/dockerfile.hpp"
#include "common/security/redact.hpp"
#include "daemon/dockerfile_preview.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

// What a Dockerfile preview masks: the service's secrets and its registry's password.
redactor preview_secrets(const service_config& s, const std::optional<registry_config>& registry) {
  redactor secrets;
  for (const std::string* v : {&s.token, &s.webhook_secret, &s.ssh_key}) {
    secrets.add(*v);
  }
  if (registry) {
    secrets.add(registry->password, registry->username);
  }
  return secrets;
}

json preview_json(const std::string& service, const dockerfile_preview& p) {
  json j{{"service", service},
         {"ref", p.ref},
         {"sha", p.sha},
         {"fetched", p.fetched},
         {"mode", p.mode},
         {"dockerfile_path", p.dockerfile_path},
         {"context", p.context},
         {"dockerfile", p.dockerfile}};
  if (p.mode == "wizard") {
    j["dockerignore"] = p.dockerignore;
    j["repository_dockerignore"] = p.repository_dockerignore;
    j["generated_by"] = p.generated_by;
    j["detected"] = json{{"language", p.language},
                         {"framework", p.framework},
                         {"package_manager", p.package_manager}};
  }
  return j;
}

// 404 for an unknown ref; 422 for what the service's settings (credentials, URL, Dockerfile)
// must fix; 502 when the git server could not be reached or failed.
api_reply preview_error_reply(const dockerfile_preview_error& e) {
  unsigned status = 422;
  if (e.kind == "ref_not_found") {
    status = 404;
  } else if (e.kind == "timeout" || e.kind == "other") {
    status = 502;
  }
  json j{{"error", e.message}, {"kind", e.kind}};
  for (const auto& [key, value] : {std::pair{"field", &e.field}, std::pair{"ref", &e.ref},
                                   std::pair{"sha", &e.sha}}) {
    if (!value->empty()) {
      j[key] = *value;
    }
  }
  return ok(j, status);
}

// ?ref= (default the service's branch), ?mode=, ?language= and ?framework= preview settings
// before they are saved; 422 naming the parameter that is wrong.
dockerfile_preview_request preview_request_of(const api_request& req, const service_config& s) {
  dockerfile_preview_request request;
  request.ref = req.query_or("ref");
  request.mode = req.query_or("mode");
  request.language = req.find_query("language");
  request.framework = req.find_query("framework");
  if (request.ref.size() > 1024 ||
      std::any_of(request.ref.begin(), request.ref.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x21 || c == 0x7f; })) {
    throw api_error{422, "ref: a branch, a tag, refs/... or a 40-hex commit id", "ref"};
  }
  if (!request.mode.empty() && request.mode != "auto" && request.mode != "path" &&
      request.mode != "wizard") {
    throw api_error{422, "mode: must be auto, path or wizard", "mode"};
  }
  const bool wizard_choice = request.language.has_value() || request.framework.has_value();
  if (request.mode.empty() && !wizard_choice && s.dockerfile.mode == "none") {
    throw api_error{422,
                    "dockerfile: the service's dockerfile mode is none (clone only), so its "
                    "builds make no image; preview a mode with ?mode=auto, ?mode=path or "
                    "?mode=wizard (or give language and framework)",
                    "dockerfile"};
  }
  if (auto problem = check_wizard_choice(request.language.value_or(""),
                                         request.framework.value_or(""))) {
    const std::string field = problem->field.substr(problem->field.rfind('.') + 1);
    throw api_error{422, field + ": " + problem->message, field};
  }
  return request;
}

}  // namespace

std::filesystem::path preview_mirror_dir(const api_context& ctx, const std::string& service) {
  return ctx.config.data_dir / "preview-mirrors" / (service + ".git");
}

asio::awaitable<api_reply> show_dockerfile_preview(const api_request& req, api_context& ctx) {
  const std::string& name = req.path_param("name");
  const service_config s = co_await existing_service(ctx, name);
  dockerfile_preview_request request = preview_request_of(req, s);
  std::optional<registry_config> registry;
  if (!s.registry.empty()) {
    if (const registry_config* c = ctx.config.find_registry(s.registry)) {
      registry = *c;
    } else {
      auto [ec, found] = co_await ctx.store.registry(s.registry);
      check(ec);
      registry = std::move(found);
    }
  }
  request.secrets = preview_secrets(s, registry);
  request.service = s;
  request.images = ctx.config.build.wizard_images;
  request.mirror_dir = preview_mirror_dir(ctx, s.name);
  request.timeout = ctx.config.worker.clone_timeout;
  auto executor = co_await asio::this_coro::executor;
  auto work = [request]() { return preview_dockerfile(request); };
  const dockerfile_preview_outcome outcome = co_await run_blocking(blocking_pool(), executor, work);
  if (const auto* e = std::get_if<dockerfile_preview_error>(&outcome)) {
    spdlog::info("api: Dockerfile preview of {} ({}) failed ({}): {}", name, e->ref, e->kind,
                 e->message);
    co_return preview_error_reply(*e);
  }
  co_return ok(preview_json(s.name, std::get<dockerfile_preview>(outcome)));
}

}  // namespace kiwi
