#include "daemon/api/deployments.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/base/json_fields.hpp"
#include "common/build/image_reference.hpp"
#include "common/config/deploy_environment.hpp"
#include "common/queue/build_id.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace kiwi {
namespace {

// Production deploys and rollbacks need the deployer role (or admin); other environments, a
// developer.
void require_deploy_role(const api_request& req, const environment_config& env) {
  if (is_production(env) && !role_allows(req.role, api_role::deployer)) {
    throw api_error{403,
                    "deploys to production need the deployer role (or admin); this token is " +
                        std::string(to_string(req.role)) + ": ask an admin for a deployer token",
                    "environment"};
  }
}

const environment_config& environment_of(const service_config& s, const std::string& name,
                                         const char* field) {
  if (const environment_config* e = find_environment(s, name)) {
    return *e;
  }
  std::string known;
  for (const auto& e : s.deploy) {
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw api_error{422,
                  std::string(field) + ": service " + s.name + " has no environment \"" + name +
                      "\"" + (known.empty() ? " (its settings list none under \"deploy\")"
                                            : " (it has " + known + ")"),
                  field};
}

// The deploy job that runs revision `d` (a job of kind deploy on the service's queue, never
// superseded by a newer push).
enqueue_request deploy_job(const service_config& s, const deployment_revision& d) {
  enqueue_request job;
  job.build_id = d.job_id;
  job.provider = "api";
  job.delivery_id = d.job_id;
  job.service = s.name;
  job.cancel_superseded = false;
  job.max_concurrent_builds = s.max_concurrent_builds;
  const std::string ref = "deploy/" + d.environment;
  job.fields = {{"service", s.name},       {"kind", "deploy"},       {"trigger", d.trigger},
                {"provider", "api"},        {"ref", ref},             {"sha", ""},
                {"deployment_id", d.id},    {"environment", d.environment}};
  job.queued_event.type = event_type::build_queued;
  job.queued_event.build_id = job.build_id;
  job.queued_event.service = s.name;
  job.queued_event.ref = ref;
  job.queued_event.status = "queued";
  job.queued_event.message = "deploy of " + d.image + " to " + d.environment + " queued (revision " +
                             std::to_string(d.revision) + ")";
  return job;
}

// Stores `d` as the next revision and queues its deploy job: 202 with the revision.
asio::awaitable<api_reply> start(api_context& ctx, const service_config& s, deployment_revision d) {
  d.job_id = new_build_id();
  auto [ec, created] = co_await ctx.deployments.create(std::move(d));
  check(ec);
  const enqueue_request job = deploy_job(s, created);
  auto [qec, out] = co_await ctx.queue.enqueue(job);
  if (qec) {
    co_await ctx.deployments.set_status(created.id, "failed", "could not be queued: try again");
  }
  check(qec);
  spdlog::info("api: deployment {} of {} to {} queued (revision {}, by {})", created.id, s.name,
               created.environment, created.revision, created.trigger);
  co_return ok(to_json(created), 202);
}

// The service repository's image by digest: from a succeeded build of the service, or a digest
// of the service's own repository.
asio::awaitable<std::string> image_to_deploy(api_context& ctx, const service_config& s,
                                             const json& body) {
  const std::string build = json_fields::get_string(body, "build", "build", false);
  const std::string image = json_fields::get_string(body, "image", "image", false);
  if (build.empty() == image.empty()) {
    throw api_error{422, "build: give either \"build\" (a build id) or \"image\" (an image "
                         "digest), one of the two", "build"};
  }
  if (!build.empty()) {
    auto [ec, fields] = co_await ctx.queue.build_record(build);
    check(ec);
    std::string service, status, built, digest;
    for (const auto& [k, v] : fields) {
      if (k == "service") service = v;
      if (k == "status") status = v;
      if (k == "image") built = v;
      if (k == "digest") digest = v;
    }
    if (fields.empty() || service != s.name) {
      throw api_error{422, "build: no build " + build + " of service " + s.name, "build"};
    }
    if (digest.empty()) {
      throw api_error{422, "build: build " + build + " pushed no image (status " + status + ")",
                      "build"};
    }
    co_return image_by_digest(built, digest);
  }
  std::optional<registry_config> reg;
  if (const auto* c = ctx.config.find_registry(s.registry)) {
    reg = *c;
  } else {
    auto [ec, found] = co_await ctx.store.registry(s.registry);
    check(ec);
    reg = found;
  }
  const std::string repo = reg ? registry_host(reg->url) + "/" + s.image : s.image;
  const std::string full = image.starts_with("sha256:") ? repo + "@" + image : image;
  if (!is_digest_reference(full) || !full.starts_with(repo + "@")) {
    throw api_error{422, "image: must be a digest of the service's repository, " + repo +
                             "@sha256:<64 hex digits> (or just sha256:<...>); deploys never use "
                             "a mutable tag", "image"};
  }
  co_return full;
}

asio::awaitable<deployment_revision> existing_deployment(api_context& ctx, const std::string& id) {
  auto [ec, d] = co_await ctx.deployments.get(id);
  check(ec);
  if (!d) {
    throw api_error{404, "no deployment " + id + " (older revisions leave the history, docs/"
                         "deploy.md#history)", ""};
  }
  co_return std::move(*d);
}

}  // namespace

asio::awaitable<api_reply> create_deployment(const api_request& req, api_context& ctx) {
  const service_config s = co_await existing_service(ctx, req.path_param("name"));
  const json body = parse_body(req);
  json_fields::reject_unknown(body, "", {"environment", "build", "image"});
  const std::string env_name = json_fields::get_string(body, "environment", "environment", true);
  const environment_config& env = environment_of(s, env_name, "environment");
  require_deploy_role(req, env);
  deployment_revision d;
  d.service = s.name;
  d.environment = env.name;
  d.image = co_await image_to_deploy(ctx, s, body);
  d.build_id = json_fields::get_string(body, "build", "build", false);
  d.config = env;
  d.trigger = req.token_name.empty() ? "api" : req.token_name;
  co_return co_await start(ctx, s, std::move(d));
}

asio::awaitable<api_reply> list_deployments(const api_request& req, api_context& ctx) {
  const service_config s = co_await existing_service(ctx, req.path_param("name"));
  const long limit = std::clamp(std::atol(req.query_or("limit", "50").c_str()), 1L, 200L);
  std::vector<std::string> envs;
  if (auto env = req.find_query("env")) {
    envs.push_back(environment_of(s, *env, "env").name);
  } else {
    for (const auto& e : s.deploy) envs.push_back(e.name);
  }
  std::vector<deployment_revision> all;
  for (const auto& e : envs) {
    auto [ec, items] = co_await ctx.deployments.list(s.name, e, static_cast<unsigned>(limit));
    check(ec);
    all.insert(all.end(), items.begin(), items.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.created_at > b.created_at;
  });
  json items = json::array();
  for (std::size_t i = 0; i < all.size() && i < static_cast<std::size_t>(limit); ++i) {
    items.push_back(to_json(all[i]));
  }
  co_return ok(json{{"items", items}});
}

asio::awaitable<api_reply> show_deployment(const api_request& req, api_context& ctx) {
  co_return ok(to_json(co_await existing_deployment(ctx, req.path_param("id"))));
}

asio::awaitable<api_reply> rollback_deployment(const api_request& req, api_context& ctx) {
  const deployment_revision current = co_await existing_deployment(ctx, req.path_param("id"));
  const service_config s = co_await existing_service(ctx, current.service);
  const environment_config& env = environment_of(s, current.environment, "environment");
  require_deploy_role(req, env);
  const json body = parse_optional_body(req);
  json_fields::reject_unknown(body, "", {"to"});
  std::optional<deployment_revision> target;
  if (json_fields::member(body, "to") != nullptr) {
    const unsigned long long number = json_fields::get_uint(body, "to", "to", 0, 1, 1u << 31);
    auto [ec, items] = co_await ctx.deployments.list(s.name, env.name, 1000);
    check(ec);
    for (auto& d : items) {
      if (d.revision == number) target = std::move(d);
    }
    if (!target) {
      throw api_error{422, "to: " + env.name + " has no revision " + std::to_string(number) +
                               " in its history", "to"};
    }
  } else {
    auto [ec, found] = co_await ctx.deployments.last_succeeded(s.name, env.name, current.revision);
    check(ec);
    if (!found) {
      throw api_error{409, env.name + " has no successful revision before revision " +
                               std::to_string(current.revision) + " to roll back to", ""};
    }
    target = std::move(found);
  }
  deployment_revision d;
  d.service = s.name;
  d.environment = env.name;
  d.build_id = target->build_id;
  d.image = target->image;
  d.config = target->config;  // that revision's config, with its secrets of the time
  d.trigger = "rollback";
  d.rollback_of = target->id;
  co_return co_await start(ctx, s, std::move(d));
}

}  // namespace kiwi
