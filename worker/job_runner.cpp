#include "worker/job_runner.hpp"

#include <cstdlib>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace asio = boost::asio;

namespace kiwi {
namespace {

std::string now_millis() { return std::to_string(unix_millis(std::chrono::system_clock::now())); }
std::string now_micros() {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

double jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Non-coroutine builders below: GCC 12 miscompiles braced lists of string literals in
// coroutines.

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

build_event stage_event(const build_event& base, const stage_mark& m) {
  return make_event(base, m.type, m.stage, m.status, m.message);
}

// The build-record fields of a stage event, stamped now: when it started, or when it ended and
// how, then the stage's own.
field_list stage_fields(const stage_mark& m) {
  field_list f;
  const std::string now = now_millis();
  if (m.type == event_type::stage_started) {
    f = {{"stage", m.stage},
         {"started_at", now},
         {"started_us", now_micros()},
         {"stage." + m.stage + ".started_at", now}};
  } else {
    f = {{"stage." + m.stage + ".finished_at", now}, {"stage." + m.stage + ".status", m.status}};
  }
  f.insert(f.end(), m.fields.begin(), m.fields.end());
  return f;
}

std::pair<event_type, std::string_view> final_event_of(job_outcome o) {
  switch (o) {
    case job_outcome::succeeded: return {event_type::build_succeeded, "succeeded"};
    case job_outcome::retry: return {event_type::build_retrying, "retrying"};
    case job_outcome::cancelled: return {event_type::build_cancelled, "cancelled"};
    case job_outcome::superseded: return {event_type::build_superseded, "superseded"};
    case job_outcome::failed:
    case job_outcome::dead_letter: break;
  }
  return {event_type::build_failed, "failed"};
}

job_result to_result(const build_event& base, const build_end& end) {
  job_result r;
  r.outcome = end.outcome;
  if (end.stage) {
    r.stage_event = stage_event(base, *end.stage);
    r.fields = stage_fields(*end.stage);
  }
  const auto [type, status] = final_event_of(end.outcome);
  r.final_event = make_event(base, type, "", status, end.message);
  r.error = end.error;
  if (end.outcome == job_outcome::retry) {
    r.retry_at = std::chrono::system_clock::now() + end.retry_delay;
  }
  return r;
}

void log_end(const build_event& base, const build_end& end) {
  switch (end.outcome) {
    case job_outcome::succeeded:
      spdlog::info("build {} succeeded: {}", base.build_id,
                   end.stage ? end.stage->message : end.message);
      return;
    case job_outcome::cancelled:
    case job_outcome::superseded:
      spdlog::info("build {} {}", base.build_id, end.error);
      return;
    case job_outcome::failed:
    case job_outcome::retry:
    case job_outcome::dead_letter:
      spdlog::warn("build {} ({}) failed{}: {}{}", base.build_id, base.service,
                   end.stage ? " in its " + end.stage->stage + " stage" : "", end.error,
                   end.outcome == job_outcome::dead_letter ? " (dead-lettered)" : "");
      return;
  }
}

pipeline_job describe(const claimed_job& job, const queue_config& queue, std::string worker) {
  pipeline_job p;
  p.kind = job.field_or("kind", "push");
  p.service = job.field_or("service");
  p.ref = job.field_or("ref");
  p.sha = job.field_or("sha");
  p.first_stage = job.field_or("first_stage");
  p.stage_started = job.stage_started;
  p.attempt = job.attempts + 1;
  p.noop_ms = std::strtoll(job.field_or("noop_ms", "0").c_str(), nullptr, 10);
  p.worker = std::move(worker);
  p.jitter = jitter();
  p.queue = queue;
  return p;
}

// Runs `attempt` (a Redis write: an error_code, empty when done) until it goes through,
// backing off up to `cap` while Redis is unreachable. False when recording was given up.
template <class Attempt>
asio::awaitable<bool> until_written(Attempt attempt, const std::atomic<bool>& give_up,
                                    std::chrono::milliseconds cap, const std::string& build_id,
                                    std::string_view what) {
  std::chrono::milliseconds backoff{100};
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int n = 0;; ++n) {
    const boost::system::error_code ec = co_await attempt();
    if (!ec) {
      co_return true;
    }
    if (give_up.load()) {
      spdlog::warn("build {}: could not record {} ({}); its lease will expire and another "
                   "worker will run it again",
                   build_id, what, ec.message());
      co_return false;
    }
    if (n == 0) {
      spdlog::warn("build {}: recording {} failed ({}); retrying", build_id, what, ec.message());
    }
    timer.expires_after(backoff);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff = std::min(backoff * 2, cap);
  }
}

}  // namespace

struct job_runner::running {
  claimed_job job;
  job_control& control;
  build_event base;
  std::optional<service_config> service;  // push: once resolved
  std::filesystem::path workspace;
  field_list outputs;  // build-record fields of the finished stages, for the next ones
};

job_runner::job_runner(const kiwi_config& config, job_queue& queue, resource_store& store,
                       deployment_store& deployments, asio::thread_pool& blocking,
                       std::string worker_name, build_network network)
    : config_(config),
      queue_(queue),
      worker_name_(std::move(worker_name)),
      stages_(config, queue, store, deployments, blocking, std::move(network)) {}

asio::awaitable<void> job_runner::run(claimed_job job, job_control& control) {
  const pipeline_job facts = describe(job, config_.queue, worker_name_);
  running build{std::move(job), control, {}, {}, {}, {}};
  build.base.build_id = build.job.build_id;
  build.base.service = facts.service;
  build.base.ref = facts.ref;
  build.base.sha = facts.sha;
  build.workspace = config_.data_dir / "workspaces" / build.job.build_id;

  pipeline_step step = start_pipeline(facts);
  for (;;) {
    std::optional<pipeline_event> answer;
    for (const auto& action : step.actions) {
      answer = co_await perform(build, action);  // only the last action has an answer
    }
    if (!answer) {
      co_return;
    }
    step = advance(facts, step.at, *answer);
  }
}

asio::awaitable<std::optional<pipeline_event>> job_runner::perform(running& build,
                                                                   const pipeline_action& action) {
  const auto& job = build.job;
  switch (action.what) {
    case pipeline_action::kind::resolve_service: {
      pipeline_event found = co_await stages_.resolve_service(build.base.service, build.service);
      if (std::holds_alternative<service_found>(found)) {
        spdlog::info("build {} started (attempt {}): {} {} {}", job.build_id, job.attempts + 1,
                     build.base.service, build.base.ref, build.base.sha);
      }
      co_return found;
    }
    case pipeline_action::kind::record_stage: {
      const bool held =
          co_await record(job, stage_event(build.base, action.mark), stage_fields(action.mark));
      co_return recorded{held};
    }
    case pipeline_action::kind::run_stage: {
      stage_job sj{&job, build.base, build.service ? &*build.service : nullptr, build.workspace,
                   &build.control.stop, &build.outputs};
      stage_finished done;
      // A started deploy runs to its end: cancel requests are off, and its outcome stands
      // unless it stopped itself (its lease lost, or a shutdown while it waited for its turn).
      const bool deploy = action.stage == pipeline_stage::deploy;
      build.control.in_deploy = deploy;
      done.report = co_await stages_.run(action.stage, sj);
      build.control.in_deploy = false;
      build.outputs.insert(build.outputs.end(), done.report.fields.begin(),
                           done.report.fields.end());
      if (build.control.stop.load() &&
          (!deploy || done.report.what == stage_report::status::stopped)) {
        done.report = stage_report::stopped(build.control.reason);
      }
      co_return done;
    }
    case pipeline_action::kind::remove_workspace:
      co_await stages_.remove_workspace(build.workspace);
      co_return std::nullopt;
    case pipeline_action::kind::finish:
      log_end(build.base, action.end);
      co_await finish(job, to_result(build.base, action.end), build.control);
      co_return std::nullopt;
    case pipeline_action::kind::release:
      co_await release(job, action.message);
      co_return std::nullopt;
  }
  co_return std::nullopt;
}

asio::awaitable<bool> job_runner::record(const claimed_job& job, const build_event& event,
                                         const field_list& fields) {
  bool held = false;
  auto attempt = [&]() -> asio::awaitable<boost::system::error_code> {
    auto [ec, h] = co_await queue_.record(event, fields, job.lease);
    held = h;
    co_return ec;
  };
  if (!co_await until_written(attempt, give_up_, std::chrono::milliseconds(2000), job.build_id,
                              to_string(event.type))) {
    co_return false;
  }
  if (!held) {
    spdlog::warn("build {}: its lease is gone (another worker took it over); stopping",
                 job.build_id);
  }
  co_return held;
}

asio::awaitable<void> job_runner::finish(const claimed_job& job, const job_result& result,
                                         job_control& control) {
  next_claim next;
  next.worker = worker_name_;
  next.max = control.want_next ? 1 : 0;
  next.lease_for = config_.queue.visibility_timeout;
  next.max_attempts = config_.queue.max_attempts;
  bool held = true;
  auto attempt = [&]() -> asio::awaitable<boost::system::error_code> {
    auto [ec, done] = co_await queue_.finish(job, result, next);
    if (!ec) {
      control.next = std::move(done.next);
      held = done.held;
    }
    co_return ec;
  };
  if (co_await until_written(attempt, give_up_, std::chrono::milliseconds(2000), job.build_id,
                             "its outcome") &&
      !held) {
    spdlog::warn("build {}: lease lost before its outcome ({}) was recorded; another worker "
                 "owns it now",
                 job.build_id, to_string(result.outcome));
  }
}

asio::awaitable<void> job_runner::release(const claimed_job& job, const std::string& message) {
  bool held = false;
  auto attempt = [&]() -> asio::awaitable<boost::system::error_code> {
    auto [ec, h] = co_await queue_.release(job, message);
    held = h;
    co_return ec;
  };
  if (co_await until_written(attempt, give_up_, std::chrono::milliseconds(1000), job.build_id,
                             "its hand-back") &&
      held) {
    spdlog::info("build {} handed back to the queue", job.build_id);
  }
}

}  // namespace kiwi
