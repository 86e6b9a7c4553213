#include "worker/stage_runner.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/base/blocking_pool.hpp"
#include "worker/build_stage.hpp"
#include "worker/build_target.hpp"
#include "worker/clone_stage.hpp"
#include "worker/scan_stage.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

// Which clone failures may pass on their own.
failure_kind clone_failure_kind(clone_errc code) {
  switch (code) {
    case clone_errc::connection_timeout:
    case clone_errc::other:  // connection refused, reset, a 5xx from the git server
      return failure_kind::transient;
    case clone_errc::authentication_failed:
    case clone_errc::repository_not_found:
    case clone_errc::certificate_invalid:
    case clone_errc::commit_not_found:
    case clone_errc::host_denied:
    case clone_errc::cancelled:
      return failure_kind::permanent;
  }
  return failure_kind::permanent;
}

// The stage.log event lines of `stage` are copied from (a non-coroutine builder: GCC 12
// miscompiles braced lists of string literals in coroutines).
build_event log_event(const build_event& base, std::string_view stage) {
  build_event e = base;
  e.type = event_type::stage_log;
  e.stage = std::string(stage);
  e.status = "running";
  return e;
}

// A field an earlier stage of this build recorded (the build stage's image, ...).
std::string earlier_field(const stage_job& job, std::string_view key) {
  if (job.earlier != nullptr) {
    for (const auto& [k, v] : *job.earlier) {
      if (k == key) {
        return v;
      }
    }
  }
  return {};
}

std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

}  // namespace

stage_runner::stage_runner(const kiwi_config& config, job_queue& queue, resource_store& store,
                           deployment_store& deployments, asio::thread_pool& blocking,
                           build_network network)
    : config_(config), queue_(queue), store_(store), blocking_(blocking),
      network_(std::move(network)), deploy_(config, queue, deployments, store, blocking) {}

namespace {
service_found found(const service_config& s) {
  const bool deploys = std::any_of(s.deploy.begin(), s.deploy.end(),
                                   [](const environment_config& e) { return e.auto_deploy; });
  return service_found{s.dockerfile.mode == "none", deploys && !s.registry.empty()};
}
}  // namespace

asio::awaitable<pipeline_event> stage_runner::resolve_service(
    const std::string& name, std::optional<service_config>& out) {
  if (const service_config* configured = config_.find_service(name)) {
    out = *configured;
    co_return found(*out);
  }
  std::string problem;
  try {
    auto [ec, found] = co_await store_.service(name);
    if (ec) {
      // Redis is down: a transient failure, retried like any other.
      co_return service_unavailable{"cannot read the service's settings (" + ec.message() + ")",
                                    failure_kind::transient};
    }
    out = std::move(found);
  } catch (const std::exception& e) {  // a secret the configured key cannot open
    problem = e.what();
  }
  if (!out) {
    co_return service_unavailable{
        !problem.empty() ? problem
                         : "service \"" + name +
                               "\" is neither in this worker's configuration nor registered "
                               "through the API (was it deleted?)",
        failure_kind::permanent};
  }
  co_return found(*out);
}

asio::awaitable<stage_report> stage_runner::run(pipeline_stage stage, const stage_job& job) {
  switch (stage) {
    case pipeline_stage::clone: co_return co_await clone(job);
    case pipeline_stage::build: co_return co_await build(job);
    case pipeline_stage::scan: co_return co_await scan(job);
    case pipeline_stage::push: co_return co_await push(job);
    case pipeline_stage::noop: co_return co_await noop(job);
    case pipeline_stage::deploy:
      if (job.job->field_or("kind") == "deploy") {
        co_return co_await deploy_.deploy_job(job);
      }
      co_return co_await deploy_.after_push(job);
  }
  co_return stage_report::failed("this worker cannot run the stage", failure_kind::permanent);
}

asio::awaitable<stage_report> stage_runner::noop(const stage_job& job) {
  const auto ms =
      std::chrono::milliseconds(std::strtoll(job.job->field_or("noop_ms", "0").c_str(), nullptr, 10));
  // Sleeps in slices so that a cancel request is seen promptly.
  const auto until = std::chrono::steady_clock::now() + ms;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!job.cancel->load() && std::chrono::steady_clock::now() < until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    timer.expires_after(std::min(left, std::chrono::milliseconds(50)));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  stage_report r;
  r.message = "done";
  r.summary = "build finished";
  co_return r;
}

asio::awaitable<stage_report> stage_runner::clone(const stage_job& job) {
  const service_config& service = *job.service;
  const build_event& base = job.base;
  clone_request request;
  request.service = service.name;
  request.git_url = service.git_url;
  request.branch = job.job->field_or("branch");
  request.ref = base.ref;
  request.sha = base.sha;
  request.username = service.git_username;
  request.token = service.token;
  request.ssh_key = service.ssh_key;
  request.ssh_known_hosts = service.ssh_known_hosts;
  request.mirror_dir = config_.data_dir / "mirrors" / (service.name + ".git");
  request.workspace = job.workspace;
  request.timeout = config_.worker.clone_timeout;
  request.cancel = job.cancel;
  auto executor = co_await asio::this_coro::executor;
  request.on_progress = [this, executor, e = log_event(base, "clone")](std::string_view line) {
    // Called on a blocking thread: hop to the I/O thread, where the event is written to the
    // Redis connection at once, ahead of anything the job records after the stage returns.
    build_event log = e;
    log.message = std::string(line);
    log.ts = std::chrono::system_clock::now();
    asio::post(executor, [this, log = std::move(log)]() { queue_.record_detached(log); });
  };
  const auto started = std::chrono::steady_clock::now();
  auto run = [&request]() {
    // A re-run (after a lost worker or a retry) starts from a clean workspace.
    std::error_code ignored;
    std::filesystem::remove_all(request.workspace, ignored);
    return run_clone(request);
  };
  clone_outcome outcome = co_await run_blocking(blocking_, executor, run);
  const auto took = since(started);
  if (auto* error = std::get_if<clone_error>(&outcome)) {
    co_return stage_report::failed(error->message, clone_failure_kind(error->code));
  }
  const auto& cloned = std::get<clone_result>(outcome);
  stage_report r;
  r.message = fmt::format("checked out {} ({} files) in {} ms{}", cloned.sha.substr(0, 12),
                          cloned.files, took.count(),
                          cloned.fetched ? "" : ", from the mirror without a fetch");
  r.fields.emplace_back("tree", cloned.tree);
  r.summary = "build finished in " + std::to_string(took.count()) + " ms";
  co_return r;
}

asio::awaitable<stage_report> stage_runner::build(const stage_job& job) {
  const build_event& base = job.base;
  build_stage_request request;
  request.service = *job.service;
  request.wizard_images = config_.build.wizard_images;
  if (auto missing = co_await resolve_build_target(config_, store_, *job.service, request)) {
    co_return stage_report::failed(missing->message, missing->kind);
  }
  request.build_id = base.build_id;
  request.workspace = job.workspace;
  request.ref = base.ref;
  request.sha = base.sha;
  if (const std::string n = job.job->field_or("number"); !n.empty()) {
    request.build_number = std::strtoull(n.c_str(), nullptr, 10);
  }
  request.started = std::chrono::system_clock::now();
  request.storage.root = config_.data_dir / "buildah";
  request.storage.driver = config_.worker.storage_driver;
  request.network = network_;
  request.temp_root = config_.data_dir / "tmp";
  request.deadline = std::chrono::steady_clock::now() + config_.worker.build_timeout;
  request.cancel = job.cancel;
  auto executor = co_await asio::this_coro::executor;
  request.on_line = log_lines(base, "build", executor);
  std::error_code ignored;
  std::filesystem::create_directories(request.temp_root, ignored);
  const auto started = std::chrono::steady_clock::now();
  auto run = [&request]() { return run_build_stage(request); };
  build_stage_outcome outcome = co_await run_blocking(blocking_, executor, run);
  const auto took = since(started);
  if (auto* f = std::get_if<build_stage_failure>(&outcome)) {
    std::string message = f->message;
    if (!f->last_lines.empty() && message.find('\n') == std::string::npos) {
      message += "\nlast lines of the build output:";
      for (const auto& l : f->last_lines) {
        message += "\n  " + l;
      }
    }
    co_return stage_report::failed(std::move(message), f->kind);
  }
  const auto& built = std::get<build_stage_result>(outcome);
  stage_report r;
  r.fields.emplace_back("builder", request.runtime ? "kaniko" : "buildah");
  if (!built.image_id.empty()) {
    r.fields.emplace_back("image_id", built.image_id);
  }
  r.message = built.digest.empty()
                  ? fmt::format("built {} in {} ms", built.image, took.count())
                  : fmt::format("built and pushed {}@{} in {} ms", built.image, built.digest,
                                took.count());
  r.summary = r.message;
  r.fields.emplace_back("image", built.image);
  r.fields.emplace_back("tag", built.tag);
  if (!built.digest.empty()) {
    r.fields.emplace_back("digest", built.digest);
  }
  r.fields.emplace_back("dockerfile_path", built.dockerfile_path);
  r.fields.emplace_back("dockerfile", built.dockerfile);
  if (!built.generated_by.empty()) {
    r.fields.emplace_back("dockerfile_generated_by", built.generated_by);
  }
  co_return r;
}

asio::awaitable<stage_report> stage_runner::scan(const stage_job& job) {
  scan_stage_outcome out;
  if (config_.scan.trivy_path.empty()) {
    out = skipped_scan("scan skipped: no scanner configured (scan.trivy_path)");
  } else if (!job.service->scan.enabled) {
    out = skipped_scan("scan skipped: the service's scan.enabled is false");
  } else if (earlier_field(job, "builder") == "kaniko") {
    out = skipped_scan("scan skipped: Kaniko builds push in their build stage and are not "
                       "scanned yet (docs/scan.md)");
  } else {
    scan_stage_request request;
    request.image = earlier_field(job, "image_id");
    if (request.image.empty()) {
      request.image = earlier_field(job, "image");
    }
    request.storage.root = config_.data_dir / "buildah";
    request.storage.driver = config_.worker.storage_driver;
    request.scanner = config_.scan;
    request.service = job.service->scan;
    request.today = utc_date(std::chrono::system_clock::now());
    request.temp_root = config_.data_dir / "tmp";
    request.cancel = job.cancel;
    auto executor = co_await asio::this_coro::executor;
    request.on_line = log_lines(job.base, "scan", executor);
    auto work = [&request]() { return run_scan_stage(request); };
    out = co_await run_blocking(blocking_, executor, work);
  }
  if (!out.report.empty()) {
    // Stored before the stage's outcome names it; a build without it would point at nothing.
    if (const auto ec = co_await queue_.store_scan_report(job.base.build_id, out.report)) {
      co_return stage_report::failed("Scan failed: cannot store the report (" + ec.message() +
                                         ")",
                                     failure_kind::transient);
    }
  }
  stage_report r;
  if (out.what == scan_stage_outcome::status::failed) {
    r = stage_report::failed(out.message, out.kind);
  }
  r.message = out.message;
  r.fields.emplace_back("scan", out.record);
  co_return r;
}

asio::awaitable<stage_report> stage_runner::push(const stage_job& job) {
  const std::string image = earlier_field(job, "image");
  stage_report r;
  if (earlier_field(job, "builder") == "kaniko") {
    r.message = "pushed by Kaniko in the build stage";
    r.summary = "built and pushed " + image + "@" + earlier_field(job, "digest");
    co_return r;
  }
  build_stage_request target;
  target.service = *job.service;
  if (auto missing = co_await resolve_build_target(config_, store_, *job.service, target)) {
    co_return stage_report::failed(missing->message, missing->kind);
  }
  if (!target.registry) {
    r.message = "not pushed: the service has no registry (the image stays in the worker's "
                "storage as " + image + ")";
    r.summary = "built " + image + " (not pushed: the service has no registry)";
    co_return r;
  }
  target.workspace = job.workspace;
  target.storage.root = config_.data_dir / "buildah";
  target.storage.driver = config_.worker.storage_driver;
  target.temp_root = config_.data_dir / "tmp";
  target.deadline = std::chrono::steady_clock::now() + config_.worker.build_timeout;
  target.cancel = job.cancel;
  auto executor = co_await asio::this_coro::executor;
  target.on_line = log_lines(job.base, "push", executor);
  const auto started = std::chrono::steady_clock::now();
  auto work = [&target, &image]() { return push_built_image(target, image); };
  build_stage_outcome outcome = co_await run_blocking(blocking_, executor, work);
  if (auto* f = std::get_if<build_stage_failure>(&outcome)) {
    co_return stage_report::failed(f->message, f->kind);
  }
  const std::string digest = std::get<build_stage_result>(outcome).digest;
  r.message = fmt::format("pushed {}@{} in {} ms", image, digest, since(started).count());
  r.summary = "built and pushed " + image + "@" + digest;
  r.fields.emplace_back("digest", digest);
  co_return r;
}

std::function<void(std::string_view)> stage_runner::log_lines(
    const build_event& base, std::string_view stage, const asio::any_io_executor& executor) {
  // Lines arrive on a blocking thread; each becomes a stage.log event written from the I/O
  // thread. Past max_log_lines one truncation line is stored and the rest dropped (the failure
  // event still carries the last lines).
  auto lines = std::make_shared<std::atomic<unsigned>>(0);
  const unsigned cap = config_.worker.max_log_lines;
  return [this, executor, lines, cap, e = log_event(base, stage)](std::string_view line) {
    const unsigned n = lines->fetch_add(1) + 1;
    if (n > cap + 1) {
      return;
    }
    build_event log = e;
    log.message = n <= cap ? std::string(line)
                           : fmt::format("[log truncated: only the first {} lines of this "
                                         "stage are stored]",
                                         cap);
    log.ts = std::chrono::system_clock::now();
    asio::post(executor, [this, log = std::move(log)]() { queue_.record_detached(log); });
  };
}

// The workspace goes before the outcome is recorded: finishing may hand this slot to the next
// build at once.
asio::awaitable<void> stage_runner::remove_workspace(const std::filesystem::path& workspace) {
  if (config_.worker.keep_workspaces) {
    co_return;
  }
  auto executor = co_await asio::this_coro::executor;
  auto remove = [workspace]() {
    std::error_code ignored;
    std::filesystem::remove_all(workspace, ignored);
    return true;
  };
  co_await run_blocking(blocking_, executor, remove);
}

}  // namespace kiwi
