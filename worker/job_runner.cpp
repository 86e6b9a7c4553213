#include "worker/job_runner.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "worker/blocking_pool.hpp"
#include "worker/clone_stage.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

std::string field_or_empty(const queued_job& job, std::string_view name) {
  const std::string* v = job.field(name);
  return v != nullptr ? *v : std::string();
}

std::string now_millis() { return std::to_string(unix_millis(std::chrono::system_clock::now())); }

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

field_list build_failed_fields(const std::string& message) {
  return {{"status", "failed"}, {"error", message}, {"finished_at", now_millis()}};
}
field_list stage_started_fields(std::string_view stage) {
  auto now = now_millis();
  return {{"status", "running"},
          {"stage", std::string(stage)},
          {"started_at", now},
          {"stage." + std::string(stage) + ".started_at", now}};
}
field_list stage_finished_fields(std::string_view stage, std::string_view status) {
  return {{"stage." + std::string(stage) + ".finished_at", now_millis()},
          {"stage." + std::string(stage) + ".status", std::string(status)}};
}
field_list build_succeeded_fields() {
  return {{"status", "succeeded"}, {"finished_at", now_millis()}};
}

}  // namespace

job_runner::job_runner(const kiwi_config& config, job_queue& queue, asio::thread_pool& blocking)
    : config_(config), queue_(queue), blocking_(blocking) {}

asio::awaitable<bool> job_runner::record(const build_event& event, const field_list& fields,
                                         const std::optional<acknowledge>& ack) {
  auto executor = co_await asio::this_coro::executor;
  std::chrono::milliseconds backoff{100};
  for (int attempt = 0;; ++attempt) {
    auto ec = co_await queue_.record(event, fields, ack);
    if (!ec) {
      co_return true;
    }
    if (cancel_.load()) {
      spdlog::warn("build {}: could not record {} ({}); leaving the job pending", event.build_id,
                   to_string(event.type), ec.message());
      co_return false;
    }
    if (attempt == 0) {
      spdlog::warn("build {}: recording {} failed ({}); retrying", event.build_id,
                   to_string(event.type), ec.message());
    }
    asio::steady_timer pause(executor, backoff);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

asio::awaitable<void> job_runner::fail_build(const queued_job& job, const build_event& base,
                                             std::string message) {
  spdlog::warn("build {} ({}) failed: {}", job.build_id, base.service, message);
  // Named locals, not temporaries, in co_await expressions: GCC 12 destroys such temporaries
  // twice.
  const build_event event = make_event(base, event_type::build_failed, "", "failed", message);
  const field_list fields = build_failed_fields(message);
  const std::optional<acknowledge> ack = acknowledge{job.entry_id, "failed"};
  co_await record(event, fields, ack);
}

asio::awaitable<void> job_runner::run(queued_job job) {
  build_event base;
  base.build_id = job.build_id;
  base.service = field_or_empty(job, "service");
  base.ref = field_or_empty(job, "ref");
  base.sha = field_or_empty(job, "sha");

  if (job.build_id.empty() || base.service.empty() || base.sha.empty()) {
    // Undecodable job: nothing can run. (Dead-lettering arrives with the reliable queue.)
    spdlog::error("job {} lacks build/service/sha; acknowledging it as failed", job.entry_id);
    if (!job.build_id.empty()) {
      const std::string message = "the job could not be decoded (missing service or sha)";
      co_await fail_build(job, base, message);
    }
    co_return;
  }
  const service_config* service = config_.find_service(base.service);
  if (service == nullptr) {
    const std::string message = "service \"" + base.service +
                                "\" is not in this worker's configuration; give kiwid and "
                                "every kiwi-worker the same services";
    co_await fail_build(job, base, message);
    co_return;
  }

  spdlog::info("build {} started: {} {} {}", job.build_id, base.service, base.ref, base.sha);
  const std::optional<acknowledge> no_ack;
  const build_event started_event =
      make_event(base, event_type::stage_started, "clone", "running",
                 "cloning " + base.ref + " at " + base.sha.substr(0, 12));
  const field_list started_fields = stage_started_fields("clone");
  if (!co_await record(started_event, started_fields, no_ack)) {
    co_return;
  }

  clone_request request;
  request.service = service->name;
  request.git_url = service->git_url;
  request.branch = field_or_empty(job, "branch");
  request.ref = base.ref;
  request.sha = base.sha;
  request.username = service->git_username;
  request.token = service->token;
  request.mirror_dir = config_.data_dir / "mirrors" / (service->name + ".git");
  request.workspace = config_.data_dir / "workspaces" / job.build_id;
  request.timeout = config_.worker.clone_timeout;
  request.cancel = &cancel_;
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
  auto clone = [&request]() { return run_clone(request); };
  clone_outcome outcome = co_await run_blocking(blocking_, executor, clone);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);

  if (auto* error = std::get_if<clone_error>(&outcome)) {
    const build_event failed_event =
        make_event(base, event_type::stage_failed, "clone", "failed", error->message);
    const field_list failed_fields = stage_finished_fields("clone", "failed");
    if (co_await record(failed_event, failed_fields, no_ack)) {
      co_await fail_build(job, base, error->message);
    }
  } else {
    const auto& result = std::get<clone_result>(outcome);
    std::string message = fmt::format("checked out {} ({} files) in {} ms{}",
                                      result.sha.substr(0, 12), result.files, took.count(),
                                      result.fetched ? "" : ", from the mirror without a fetch");
    field_list fields = stage_finished_fields("clone", "succeeded");
    fields.emplace_back("tree", result.tree);
    const build_event succeeded_event =
        make_event(base, event_type::stage_succeeded, "clone", "succeeded", message);
    if (co_await record(succeeded_event, fields, no_ack)) {
      spdlog::info("build {} succeeded: {}", job.build_id, message);
      const build_event done_event =
          make_event(base, event_type::build_succeeded, "", "succeeded",
                     "build finished in " + std::to_string(took.count()) + " ms");
      const field_list done_fields = build_succeeded_fields();
      const std::optional<acknowledge> ack = acknowledge{job.entry_id, "succeeded"};
      co_await record(done_event, done_fields, ack);
    }
  }
  if (!config_.worker.keep_workspaces) {
    auto remove = [workspace = request.workspace]() {
      std::error_code ignored;
      std::filesystem::remove_all(workspace, ignored);
      return true;
    };
    co_await run_blocking(blocking_, executor, remove);
  }
}

}  // namespace kiwi
