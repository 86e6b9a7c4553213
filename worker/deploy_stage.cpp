#include "worker/deploy_stage.hpp"

#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "common/config/deploy_environment.hpp"
#include "common/deploy/deployer.hpp"
#include "worker/build_target.hpp"
#include "worker/stage_runner.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Renews the environment's lock every third of its lease until *done (the lease outlives a
// dead worker by at most the visibility timeout, like the job's own lease).
asio::awaitable<void> keep_lock(deployment_store& store, deployment_revision d,
                                std::chrono::milliseconds lease, std::shared_ptr<bool> done) {
  while (!*done) {
    co_await sleep_for(lease / 3);
    if (!*done) {
      co_await store.renew(d.service, d.environment, d.id, lease);
    }
  }
}

// The build event of a deploy (a non-coroutine builder: GCC 12 and braced lists).
build_event deploy_event(const build_event& base, const deployment_revision& d, event_type type,
                         const std::string& status, const std::string& message) {
  build_event e = base;
  e.type = type;
  e.stage = "deploy";
  e.status = status;
  e.message = message;
  e.deployment_id = d.id;
  e.environment = d.environment;
  e.revision = d.revision;
  e.ts = std::chrono::system_clock::now();
  return e;
}

std::string describe(const deployment_revision& d) {
  return fmt::format("{} revision {} ({})", d.environment, d.revision, d.image);
}

std::vector<std::string> diagnostics_of(const deploy_result& r) {
  std::vector<std::string> out = r.diagnostics;
  if (r.exit_code) {
    out.push_back("exit code " + std::to_string(*r.exit_code));
  }
  if (!r.log_tail.empty()) {
    out.push_back("last log lines:");
    out.insert(out.end(), r.log_tail.begin(), r.log_tail.end());
  }
  return out;
}

bool ended(const std::string& status) { return status == "succeeded" || status == "failed"; }

}  // namespace

deploy_stage::deploy_stage(const kiwi_config& config, job_queue& queue,
                           deployment_store& deployments, resource_store& resources,
                           asio::thread_pool& blocking)
    : config_(config), queue_(queue), deployments_(deployments), resources_(resources),
      blocking_(blocking) {}

asio::awaitable<bool> deploy_stage::publish(const stage_job& job, const deployment_revision& d,
                                            event_type type, const std::string& status,
                                            const std::string& message) {
  const build_event e = deploy_event(job.base, d, type, status, message);
  const field_list none;  // a named local: GCC 12 and braced temporaries in co_await
  for (int tries = 0; tries < 20; ++tries) {
    auto [ec, held] = co_await queue_.record(e, none, job.job->lease);
    if (!ec) {
      co_return held;
    }
    co_await sleep_for(std::chrono::milliseconds(500));  // Redis is down: try again
  }
  co_return true;  // given up on the event; the outcome is still written to the revision
}

asio::awaitable<bool> deploy_stage::wait_for_lock(const deployment_revision& d,
                                                  const stage_job& job) {
  const auto lease = config_.queue.visibility_timeout;
  bool told = false;
  for (;;) {
    auto [ec, got] = co_await deployments_.acquire(d.service, d.environment, d.id, lease);
    if (!ec && got) {
      co_return true;
    }
    if (!told && !ec) {
      told = true;
      queue_.record_detached(deploy_event(job.base, d, event_type::deploy_progress, "queued",
                                          "waiting for the running deploy of " + d.environment +
                                              " to end"));
    }
    if (job.cancel->load()) {
      co_return false;  // the lease was lost (cancel requests are off while deploying)
    }
    co_await sleep_for(std::chrono::milliseconds(500));
  }
}

asio::awaitable<deploy_stage::outcome> deploy_stage::run_locked(const deployment_revision& d,
                                                                const stage_job& job) {
  outcome out;
  co_await deployments_.set_status(d.id, "running", "deploying " + d.image);
  if (!co_await publish(job, d, event_type::deploy_started, "running", "deploying " + describe(d))) {
    out.stopped = true;
    co_return out;
  }
  deploy_target target;
  if (auto missing = co_await resolve_deploy_target(config_, resources_, *job.service, d.config,
                                                    target)) {
    out.message = missing->message;
    out.kind = missing->kind;
    co_await deployments_.set_status(d.id, "failed", out.message);
  } else {
    deploy_request request;
    request.service = d.service;
    request.environment = d.environment;
    request.deployment_id = d.id;
    request.revision = d.revision;
    request.image = d.image;
    request.env = d.config;
    request.registry = target.registry;
    auto executor = co_await asio::this_coro::executor;
    auto progress = [this, executor, e = deploy_event(job.base, d, event_type::deploy_progress,
                                                      "running", "")](const deploy_progress& p) {
      build_event event = e;
      event.message = p.diagnostic.empty() ? p.message : p.message + ": " + p.diagnostic;
      event.ts = std::chrono::system_clock::now();
      asio::post(executor, [this, event = std::move(event)]() { queue_.record_detached(event); });
    };
    const runtime_config runtime = *target.runtime;
    auto work = [runtime, &request, &progress]() {
      try {
        return make_deployer(runtime)->deploy(request, progress);
      } catch (const std::exception& e) {
        deploy_result r;
        r.message = e.what();
        return r;
      }
    };
    const deploy_result result = co_await run_blocking(blocking_, executor, work);
    out.succeeded = result.succeeded;
    out.message = result.message;
    out.kind = result.kind;
    co_await deployments_.set_status(d.id, result.succeeded ? "succeeded" : "failed",
                                     result.message, diagnostics_of(result), result.url);
  }
  const bool held = co_await publish(
      job, d, out.succeeded ? event_type::deploy_succeeded : event_type::deploy_failed,
      out.succeeded ? "succeeded" : "failed", describe(d) + ": " + out.message);
  out.stopped = !held;
  co_return out;
}

asio::awaitable<deploy_stage::outcome> deploy_stage::run_revision(deployment_revision d,
                                                                  const stage_job& job) {
  if (!co_await wait_for_lock(d, job)) {
    co_return outcome{false, true, "lease lost", failure_kind::permanent};
  }
  auto done = std::make_shared<bool>(false);
  asio::co_spawn(co_await asio::this_coro::executor,
                 keep_lock(deployments_, d, config_.queue.visibility_timeout, done),
                 asio::detached);
  outcome out = co_await run_locked(d, job);
  if (!out.succeeded && !out.stopped && d.config.auto_rollback && d.trigger != "auto_rollback") {
    auto [ec, previous] = co_await deployments_.last_succeeded(d.service, d.environment, d.revision);
    if (!ec && previous) {
      deployment_revision back;
      back.service = d.service;
      back.environment = d.environment;
      back.build_id = previous->build_id;
      back.image = previous->image;
      back.config = previous->config;
      back.trigger = "auto_rollback";
      back.rollback_of = previous->id;
      back.job_id = d.job_id;
      auto [cec, created] = co_await deployments_.create(back);
      if (!cec) {
        co_await publish(job, created, event_type::deploy_rolled_back, "running",
                         fmt::format("{} revision {} failed; rolling back to revision {} ({}) "
                                     "as revision {}",
                                     d.environment, d.revision, previous->revision,
                                     previous->image, created.revision));
        const outcome back_out = co_await run_locked(created, job);
        out.stopped = back_out.stopped;
        out.message += back_out.succeeded
                           ? fmt::format("; rolled back to revision {} (now revision {})",
                                         previous->revision, created.revision)
                           : "; the rollback failed too: " + back_out.message;
      }
    }
  }
  *done = true;
  co_await deployments_.release(d.service, d.environment, d.id);
  co_return out;
}

asio::awaitable<stage_report> deploy_stage::after_push(const stage_job& job) {
  const service_config& service = *job.service;
  auto [ec, record] = co_await queue_.build_record(job.base.build_id);
  if (ec) {
    co_return stage_report::failed("cannot read the build record (" + ec.message() + ")",
                                   failure_kind::transient);
  }
  std::string image, digest;
  for (const auto& [k, v] : record) {
    if (k == "image") image = v;
    if (k == "digest") digest = v;
  }
  const std::string by_digest = image_by_digest(image, digest);
  if (by_digest.empty()) {
    co_return stage_report::failed("nothing to deploy: the build pushed no image (is the "
                                   "service's registry set?)",
                                   failure_kind::permanent);
  }
  std::vector<std::string> done, failed;
  for (const auto& env : service.deploy) {
    if (!env.auto_deploy) {
      continue;
    }
    // A reclaimed build runs the revision it already made again.
    const std::string field = "deploy." + env.name + ".deployment";
    std::optional<deployment_revision> d;
    if (const std::string id = job.job->field_or(field); !id.empty()) {
      auto [gec, found] = co_await deployments_.get(id);
      d = found;
    }
    if (!d) {
      deployment_revision fresh;
      fresh.service = service.name;
      fresh.environment = env.name;
      fresh.build_id = job.base.build_id;
      fresh.image = by_digest;
      fresh.config = env;
      fresh.trigger = "push";
      fresh.job_id = job.base.build_id;
      auto [cec, created] = co_await deployments_.create(fresh);
      if (cec) {
        co_return stage_report::failed("cannot store the deployment (" + cec.message() + ")",
                                       failure_kind::transient);
      }
      d = created;
      const field_list fields{{field, d->id}};
      auto [rec, held] = co_await queue_.record(
          deploy_event(job.base, *d, event_type::deploy_progress, "queued",
                       "revision " + std::to_string(d->revision) + " of " + env.name),
          fields, job.job->lease);
      if (!rec && !held) {
        co_return stage_report::stopped(stop_reason::lease_lost);
      }
    }
    if (ended(d->status)) {
      (d->status == "succeeded" ? done : failed).push_back(describe(*d) + ": " + d->message);
      continue;
    }
    const outcome out = co_await run_revision(*d, job);
    if (out.stopped) {
      co_return stage_report::stopped(stop_reason::lease_lost);
    }
    (out.succeeded ? done : failed).push_back(describe(*d) + ": " + out.message);
  }
  if (!failed.empty()) {
    co_return stage_report::failed("deploy failed: " + fmt::format("{}", fmt::join(failed, "; ")),
                                   failure_kind::permanent);
  }
  stage_report r;
  r.message = done.empty() ? "no environment deploys automatically"
                           : "deployed " + fmt::format("{}", fmt::join(done, "; "));
  r.summary = r.message;
  co_return r;
}

asio::awaitable<stage_report> deploy_stage::deploy_job(const stage_job& job) {
  const std::string id = job.job->field_or("deployment_id");
  auto [ec, d] = co_await deployments_.get(id);
  if (ec) {
    co_return stage_report::failed("cannot read deployment " + id + " (" + ec.message() + ")",
                                   failure_kind::transient);
  }
  if (!d) {
    co_return stage_report::failed("deployment " + id + " does not exist (removed from the "
                                   "history?)",
                                   failure_kind::permanent);
  }
  if (ended(d->status)) {  // a reclaimed job whose deploy had ended
    stage_report r;
    r.message = describe(*d) + ": " + d->message;
    r.summary = r.message;
    if (d->status == "failed") {
      co_return stage_report::failed(r.message, failure_kind::permanent);
    }
    co_return r;
  }
  const outcome out = co_await run_revision(*d, job);
  if (out.stopped) {
    co_return stage_report::stopped(stop_reason::lease_lost);
  }
  if (!out.succeeded) {
    co_return stage_report::failed(describe(*d) + ": " + out.message, failure_kind::permanent);
  }
  stage_report r;
  r.message = "deployed " + describe(*d) + ": " + out.message;
  r.summary = r.message;
  co_return r;
}

}  // namespace kiwi
