#include "worker/job_runner.hpp"

#include <cstdlib>
#include <memory>

#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/queue/retry_policy.hpp"
#include "common/base/blocking_pool.hpp"
#include "worker/build_stage.hpp"
#include "worker/clone_stage.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string now_millis() { return std::to_string(unix_millis(std::chrono::system_clock::now())); }
std::string now_micros() {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

// Non-coroutine builders: GCC 12 miscompiles braced lists of string literals in coroutines.
build_event make_event(const build_event& base, event_type type, std::string_view stage,
                       std::string_view status, std::string message) {
  build_event e = base;
  e.type = type;
  e.stage = std::string(stage);
  e.status = std::string(status);
  e.message = std::move(message);
  e.ts = std::chrono::system_clock::now();
  return e;
}

field_list stage_started_fields(std::string_view stage) {
  auto now = now_millis();
  return {{"stage", std::string(stage)},
          {"started_at", now},
          {"started_us", now_micros()},
          {"stage." + std::string(stage) + ".started_at", now}};
}
field_list stage_finished_fields(std::string_view stage, std::string_view status) {
  return {{"stage." + std::string(stage) + ".finished_at", now_millis()},
          {"stage." + std::string(stage) + ".status", std::string(status)}};
}

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

double jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// The result for a failed stage, as decided by retry_policy.
job_result failure_result(const build_event& base, std::string_view stage, std::string message,
                          failure_kind kind, unsigned attempt, const queue_config& queue) {
  job_result r;
  r.stage_event = make_event(base, event_type::stage_failed, stage, "failed", message);
  r.fields = stage_finished_fields(stage, "failed");
  r.error = message;
  const auto d = decide_after_failure(kind, attempt, queue, jitter());
  switch (d.what) {
    case retry_decision::action::retry:
      r.outcome = job_outcome::retry;
      r.retry_at = std::chrono::system_clock::now() + d.delay;
      r.final_event = make_event(
          base, event_type::build_retrying, "", "retrying",
          fmt::format("attempt {} of {} failed: {}; retrying in {:.1f} s", attempt,
                      queue.max_attempts, message, d.delay.count() / 1000.0));
      break;
    case retry_decision::action::dead_letter:
      r.outcome = job_outcome::dead_letter;
      r.error = fmt::format("{} (gave up after {} attempts)", message, attempt);
      r.final_event = make_event(base, event_type::build_failed, "", "failed", r.error);
      break;
    case retry_decision::action::fail:
      r.outcome = job_outcome::failed;
      r.final_event = make_event(base, event_type::build_failed, "", "failed", message);
      break;
  }
  return r;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(use_tuple);
}

}  // namespace

job_runner::job_runner(const kiwi_config& config, job_queue& queue, resource_store& store,
                       asio::thread_pool& blocking, std::string worker_name,
                       build_network network)
    : config_(config),
      queue_(queue),
      store_(store),
      blocking_(blocking),
      worker_name_(std::move(worker_name)),
      network_(std::move(network)) {}

asio::awaitable<bool> job_runner::record(const claimed_job& job, const build_event& event,
                                         const field_list& fields) {
  std::chrono::milliseconds backoff{100};
  for (int attempt = 0;; ++attempt) {
    auto [ec, held] = co_await queue_.record(event, fields, job.lease);
    if (!ec) {
      if (!held) {
        spdlog::warn("build {}: its lease is gone (another worker took it over); stopping",
                     job.build_id);
      }
      co_return held;
    }
    if (give_up_.load()) {
      spdlog::warn("build {}: could not record {} ({}); leaving it to another worker",
                   job.build_id, to_string(event.type), ec.message());
      co_return false;
    }
    if (attempt == 0) {
      spdlog::warn("build {}: recording {} failed ({}); retrying", job.build_id,
                   to_string(event.type), ec.message());
    }
    co_await pause(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

asio::awaitable<void> job_runner::finish(const claimed_job& job, const job_result& result,
                                         job_control& control) {
  std::chrono::milliseconds backoff{100};
  for (int attempt = 0;; ++attempt) {
    next_claim next;
    next.worker = worker_name_;
    next.max = control.want_next ? 1 : 0;
    next.lease_for = config_.queue.visibility_timeout;
    next.max_attempts = config_.queue.max_attempts;
    auto [ec, done] = co_await queue_.finish(job, result, next);
    if (!ec) {
      control.next = std::move(done.next);
      if (!done.held) {
        spdlog::warn("build {}: lease lost before its outcome ({}) was recorded; another worker "
                     "owns it now",
                     job.build_id, to_string(result.outcome));
      }
      co_return;
    }
    if (give_up_.load()) {
      spdlog::warn("build {}: could not record its outcome ({}); its lease will expire and "
                   "another worker will run it again",
                   job.build_id, ec.message());
      co_return;
    }
    if (attempt == 0) {
      spdlog::warn("build {}: recording its outcome failed ({}); retrying", job.build_id,
                   ec.message());
    }
    co_await pause(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

asio::awaitable<void> job_runner::end_stopped(const claimed_job& job, const build_event& base,
                                              job_control& control, std::string_view stage) {
  switch (control.reason) {
    case stop_reason::lease_lost:
    case stop_reason::none:
      // Another worker owns the build now: write nothing.
      co_return;
    case stop_reason::shutdown: {
      const std::string message =
          "handed back by worker " + worker_name_ + " on shutdown; it starts again at once";
      std::chrono::milliseconds backoff{100};
      for (;;) {
        auto [ec, held] = co_await queue_.release(job, message);
        if (!ec || give_up_.load()) {
          if (!ec && held) {
            spdlog::info("build {} handed back to the queue", job.build_id);
          }
          co_return;
        }
        co_await pause(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      }
    }
    case stop_reason::cancelled:
    case stop_reason::superseded:
      break;
  }
  const bool superseded = control.reason == stop_reason::superseded;
  const std::string why = superseded ? "superseded by a newer push" : "cancelled on request";
  job_result r;
  r.outcome = superseded ? job_outcome::superseded : job_outcome::cancelled;
  if (!stage.empty()) {
    r.stage_event = make_event(base, event_type::stage_failed, stage, "cancelled",
                               std::string(stage) + " stopped: " + why);
    r.fields = stage_finished_fields(stage, "cancelled");
  }
  r.final_event = make_event(base,
                             superseded ? event_type::build_superseded : event_type::build_cancelled,
                             "", superseded ? "superseded" : "cancelled", "build " + why);
  r.error = why;
  spdlog::info("build {} {}", job.build_id, why);
  co_await finish(job, r, control);
}

asio::awaitable<void> job_runner::fail_permanently(const claimed_job& job, const build_event& base,
                                                   std::string message, bool dead_letter,
                                                   job_control& control) {
  spdlog::warn("build {} ({}) failed: {}", job.build_id, base.service, message);
  job_result r;
  r.outcome = dead_letter ? job_outcome::dead_letter : job_outcome::failed;
  if (job.stage_started) {  // the claim started the first stage: it fails with the build
    const std::string stage = job.field_or("first_stage");
    r.stage_event = make_event(base, event_type::stage_failed, stage, "failed", message);
    r.fields = stage_finished_fields(stage, "failed");
  }
  r.final_event = make_event(base, event_type::build_failed, "", "failed", message);
  r.error = std::move(message);
  co_await finish(job, r, control);
}

asio::awaitable<void> job_runner::run(claimed_job job, job_control& control) {
  build_event base;
  base.build_id = job.build_id;
  base.service = job.field_or("service");
  base.ref = job.field_or("ref");
  base.sha = job.field_or("sha");
  const std::string kind = job.field_or("kind", "push");

  if (base.service.empty() || (kind == "push" && base.sha.empty())) {
    const std::string message = "the job could not be decoded (its record lacks service or sha)";
    spdlog::error("build {}: {}; moving it to the dead-letter stream", job.build_id, message);
    co_await fail_permanently(job, base, message, true, control);
    co_return;
  }
  if (kind == "noop") {
    co_await run_noop(job, base, control);
  } else if (kind == "push") {
    co_await run_push(job, base, control);
  } else {
    const std::string message = "unknown job kind \"" + kind + "\"; this worker runs push and noop";
    co_await fail_permanently(job, base, message, true, control);
  }
}

asio::awaitable<void> job_runner::run_noop(const claimed_job& job, const build_event& base,
                                           job_control& control) {
  const auto ms = std::chrono::milliseconds(std::strtoll(job.field_or("noop_ms", "0").c_str(),
                                                         nullptr, 10));
  const build_event started = make_event(base, event_type::stage_started, "noop", "running",
                                         "no-op stage (" + std::to_string(ms.count()) + " ms)");
  const field_list started_fields = stage_started_fields("noop");
  if (!job.stage_started && !co_await record(job, started, started_fields)) {
    co_return;
  }
  // Sleeps in slices so that a cancel request is seen promptly.
  const auto until = std::chrono::steady_clock::now() + ms;
  while (!control.stop.load() && std::chrono::steady_clock::now() < until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    co_await pause(std::min(left, std::chrono::milliseconds(50)));
  }
  if (control.stop.load()) {
    co_await end_stopped(job, base, control, "noop");
    co_return;
  }
  job_result r;
  r.stage_event = make_event(base, event_type::stage_succeeded, "noop", "succeeded", "done");
  r.fields = stage_finished_fields("noop", "succeeded");
  r.final_event = make_event(base, event_type::build_succeeded, "", "succeeded", "build finished");
  co_await finish(job, r, control);
}

asio::awaitable<void> job_runner::run_push(const claimed_job& job, const build_event& base,
                                           job_control& control) {
  const service_config* service = config_.find_service(base.service);
  std::optional<service_config> registered;  // registered through the API
  if (service == nullptr) {
    std::string problem;
    try {
      auto [ec, found] = co_await store_.service(base.service);
      if (ec) {
        // Redis is down: a transient failure, retried like any other.
        const job_result r =
            failure_result(base, "clone", "cannot read the service's settings (" +
                                              ec.message() + ")",
                           failure_kind::transient, job.attempts + 1, config_.queue);
        co_await finish(job, r, control);
        co_return;
      }
      registered = std::move(found);
    } catch (const std::exception& e) {  // a secret the configured key cannot open
      problem = e.what();
    }
    if (!registered) {
      const std::string message =
          !problem.empty() ? problem
                           : "service \"" + base.service +
                                 "\" is neither in this worker's configuration nor registered "
                                 "through the API (was it deleted?)";
      co_await fail_permanently(job, base, message, false, control);
      co_return;
    }
    service = &*registered;
  }
  const unsigned attempt = job.attempts + 1;
  spdlog::info("build {} started (attempt {}): {} {} {}", job.build_id, attempt, base.service,
               base.ref, base.sha);
  const build_event started_event =
      make_event(base, event_type::stage_started, "clone", "running",
                 "cloning " + base.ref + " at " + base.sha.substr(0, 12));
  const field_list started_fields = stage_started_fields("clone");
  if (!job.stage_started && !co_await record(job, started_event, started_fields)) {
    co_return;
  }

  clone_request request;
  request.service = service->name;
  request.git_url = service->git_url;
  request.branch = job.field_or("branch");
  request.ref = base.ref;
  request.sha = base.sha;
  request.username = service->git_username;
  request.token = service->token;
  request.ssh_key = service->ssh_key;
  request.ssh_known_hosts = service->ssh_known_hosts;
  request.mirror_dir = config_.data_dir / "mirrors" / (service->name + ".git");
  request.workspace = config_.data_dir / "workspaces" / job.build_id;
  request.timeout = config_.worker.clone_timeout;
  request.cancel = &control.stop;
  auto executor = co_await asio::this_coro::executor;
  request.on_progress = [this, executor,
                         e = make_event(base, event_type::stage_log, "clone", "running", "")](
                            std::string_view line) {
    // Called on a blocking thread: hop to the I/O thread, where the event is written to the
    // Redis connection at once, ahead of anything the job records after the stage returns.
    build_event log = e;
    log.message = std::string(line);
    log.ts = std::chrono::system_clock::now();
    asio::post(executor, [this, log = std::move(log)]() { queue_.record_detached(log); });
  };
  const auto started = std::chrono::steady_clock::now();
  auto clone = [&request]() {
    // A re-run (after a lost worker or a retry) starts from a clean workspace.
    std::error_code ignored;
    std::filesystem::remove_all(request.workspace, ignored);
    return run_clone(request);
  };
  clone_outcome outcome = co_await run_blocking(blocking_, executor, clone);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);

  if (control.stop.load()) {
    co_await remove_workspace(request.workspace);
    co_await end_stopped(job, base, control, "clone");
    co_return;
  }
  if (auto* error = std::get_if<clone_error>(&outcome)) {
    co_await remove_workspace(request.workspace);
    spdlog::warn("build {} ({}) clone failed: {}", job.build_id, base.service, error->message);
    const job_result r = failure_result(base, "clone", error->message,
                                        clone_failure_kind(error->code), attempt, config_.queue);
    co_await finish(job, r, control);
    co_return;
  }
  const auto& cloned = std::get<clone_result>(outcome);
  std::string message = fmt::format("checked out {} ({} files) in {} ms{}",
                                    cloned.sha.substr(0, 12), cloned.files, took.count(),
                                    cloned.fetched ? "" : ", from the mirror without a fetch");
  field_list clone_fields = stage_finished_fields("clone", "succeeded");
  clone_fields.emplace_back("tree", cloned.tree);
  const build_event clone_done =
      make_event(base, event_type::stage_succeeded, "clone", "succeeded", message);
  if (service->dockerfile.mode == "none") {
    // A clone-only service (dockerfile mode none): the checkout is the whole pipeline.
    co_await remove_workspace(request.workspace);
    job_result r;
    r.fields = std::move(clone_fields);
    r.stage_event = clone_done;
    r.final_event = make_event(base, event_type::build_succeeded, "", "succeeded",
                               "build finished in " + std::to_string(took.count()) + " ms");
    spdlog::info("build {} succeeded: {}", job.build_id, message);
    co_await finish(job, r, control);
    co_return;
  }
  if (!co_await record(job, clone_done, clone_fields)) {
    co_await remove_workspace(request.workspace);
    co_return;
  }
  co_await run_build(job, base, *service, request.workspace, control);
  co_await remove_workspace(request.workspace);
}

// The workspace goes before the outcome is recorded where possible: finishing may hand this
// slot to the next build at once.
asio::awaitable<void> job_runner::remove_workspace(const std::filesystem::path& workspace) {
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

namespace {

struct build_target_error {
  std::string message;
  failure_kind kind = failure_kind::permanent;
};

// A registry or runtime a service names: the config file's, else the API's (in Redis).
template <class Resource, class Lookup>
asio::awaitable<std::optional<build_target_error>> named_resource(
    const Resource* configured, Lookup lookup, const std::string& what,
    const std::string& missing, std::optional<Resource>& out) {
  if (configured) {
    out = *configured;
    co_return std::nullopt;
  }
  auto [ec, found] = co_await lookup();
  if (ec) {
    co_return build_target_error{"cannot read the " + what + "'s settings (" + ec.message() + ")",
                                 failure_kind::transient};
  }
  if (!found) {
    co_return build_target_error{missing, failure_kind::permanent};
  }
  out = std::move(*found);
  co_return std::nullopt;
}

// Where the build pushes (the service's registry) and where it runs (local buildah, or Kaniko
// on the kubernetes runtime named by build_runtime).
asio::awaitable<std::optional<build_target_error>> resolve_build_target(
    const kiwi_config& config, resource_store& store, const service_config& service,
    build_stage_request& request) {
  if (!service.registry.empty()) {
    const std::string missing = "registry \"" + service.registry +
                                "\" does not exist (deleted?): register it or change the "
                                "service's registry";
    auto lookup = [&] { return store.registry(service.registry); };
    const std::string what = "registry";
    const registry_config* configured = config.find_registry(service.registry);
    if (auto e = co_await named_resource(configured, lookup, what, missing, request.registry)) {
      co_return e;
    }
  }
  if (service.build_runtime == "local") {
    co_return std::nullopt;
  }
  const std::string missing = "build_runtime \"" + service.build_runtime +
                              "\" does not exist (deleted?): register it or set the service's "
                              "build_runtime to local";
  auto lookup = [&] { return store.runtime(service.build_runtime); };
  const std::string what = "runtime";
  const runtime_config* configured = config.find_runtime(service.build_runtime);
  if (auto e = co_await named_resource(configured, lookup, what, missing, request.runtime)) {
    co_return e;
  }
  if (request.runtime->type != "kubernetes") {
    co_return build_target_error{"build_runtime \"" + service.build_runtime + "\" is a " +
                                     request.runtime->type +
                                     " runtime; builds run on kubernetes runtimes (Kaniko) or "
                                     "local (buildah)",
                                 failure_kind::permanent};
  }
  co_return std::nullopt;
}

}  // namespace

asio::awaitable<void> job_runner::run_build(const claimed_job& job, const build_event& base,
                                            const service_config& service,
                                            const std::filesystem::path& workspace,
                                            job_control& control) {
  const unsigned attempt = job.attempts + 1;
  const build_event started_event =
      make_event(base, event_type::stage_started, "build", "running", "building the image");
  const field_list started_fields = stage_started_fields("build");
  if (!co_await record(job, started_event, started_fields)) {
    co_return;
  }

  build_stage_request request;
  request.service = service;
  request.wizard_images = config_.build.wizard_images;
  if (auto missing = co_await resolve_build_target(config_, store_, service, request)) {
    if (missing->kind == failure_kind::transient) {
      const job_result r =
          failure_result(base, "build", missing->message, missing->kind, attempt, config_.queue);
      co_await finish(job, r, control);
    } else {
      co_await fail_permanently(job, base, missing->message, false, control);
    }
    co_return;
  }
  request.build_id = job.build_id;
  request.workspace = workspace;
  request.ref = base.ref;
  request.sha = base.sha;
  if (const std::string n = job.field_or("number"); !n.empty()) {
    request.build_number = std::strtoull(n.c_str(), nullptr, 10);
  }
  request.started = std::chrono::system_clock::now();
  request.storage.root = config_.data_dir / "buildah";
  request.storage.driver = config_.worker.storage_driver;
  request.network = network_;
  request.temp_root = config_.data_dir / "tmp";
  request.deadline = std::chrono::steady_clock::now() + config_.worker.build_timeout;
  request.cancel = &control.stop;
  auto executor = co_await asio::this_coro::executor;
  // Lines arrive on a blocking thread; each becomes a stage.log event written from the I/O
  // thread. Past max_log_lines one truncation line is stored and the rest dropped (the failure
  // event still carries the last lines).
  auto lines = std::make_shared<std::atomic<unsigned>>(0);
  const unsigned cap = config_.worker.max_log_lines;
  request.on_line = [this, executor, lines, cap,
                     e = make_event(base, event_type::stage_log, "build", "running", "")](
                        std::string_view line) {
    const unsigned n = lines->fetch_add(1) + 1;
    if (n > cap + 1) {
      return;
    }
    build_event log = e;
    log.message = n <= cap ? std::string(line)
                           : fmt::format("[log truncated: only the first {} lines of this "
                                         "build are stored]",
                                         cap);
    log.ts = std::chrono::system_clock::now();
    asio::post(executor, [this, log = std::move(log)]() { queue_.record_detached(log); });
  };
  std::error_code ignored;
  std::filesystem::create_directories(request.temp_root, ignored);
  const auto started = std::chrono::steady_clock::now();
  auto build = [&request]() { return run_build_stage(request); };
  build_stage_outcome outcome = co_await run_blocking(blocking_, executor, build);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);

  if (control.stop.load()) {
    co_await end_stopped(job, base, control, "build");
    co_return;
  }
  if (auto* f = std::get_if<build_stage_failure>(&outcome)) {
    spdlog::warn("build {} ({}) build stage failed: {}", job.build_id, base.service, f->message);
    std::string message = f->message;
    if (!f->last_lines.empty() && message.find('\n') == std::string::npos) {
      message += "\nlast lines of the build output:";
      for (const auto& l : f->last_lines) {
        message += "\n  " + l;
      }
    }
    job_result r = failure_result(base, "build", message, f->kind, attempt, config_.queue);
    co_await finish(job, r, control);
    co_return;
  }
  const auto& built = std::get<build_stage_result>(outcome);
  std::string done = built.digest.empty()
                         ? fmt::format("built {} in {} ms (not pushed: the service has no "
                                       "registry)",
                                       built.image, took.count())
                         : fmt::format("built and pushed {}@{} in {} ms", built.image,
                                       built.digest, took.count());
  job_result r;
  r.fields = stage_finished_fields("build", "succeeded");
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
  r.stage_event = make_event(base, event_type::stage_succeeded, "build", "succeeded", done);
  r.final_event = make_event(base, event_type::build_succeeded, "", "succeeded", done);
  spdlog::info("build {} succeeded: {}", job.build_id, done);
  co_await finish(job, r, control);
}

}  // namespace kiwi
