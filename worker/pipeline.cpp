#include "worker/pipeline.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "common/queue/retry_policy.hpp"

namespace kiwi {
namespace {

using action_kind = pipeline_action::kind;

// The stage after `s`, or none when `s` ends the build. The image is scanned before it is
// pushed; a stage is a value of pipeline_stage and a case here (docs/pipeline.md).
std::optional<pipeline_stage> next_stage(pipeline_stage s, const pipeline_position& at) {
  switch (s) {
    case pipeline_stage::clone:
      if (at.clone_only) {
        return std::nullopt;
      }
      return pipeline_stage::build;
    case pipeline_stage::build:
      return pipeline_stage::scan;
    case pipeline_stage::scan:
      return pipeline_stage::push;
    case pipeline_stage::push:
      return at.auto_deploy ? std::optional(pipeline_stage::deploy) : std::nullopt;
    case pipeline_stage::deploy:
    case pipeline_stage::noop:
      return std::nullopt;
  }
  return std::nullopt;
}

pipeline_stage first_stage(const pipeline_job& job) {
  if (job.kind == "deploy") {
    return pipeline_stage::deploy;
  }
  return job.kind == "noop" ? pipeline_stage::noop : pipeline_stage::clone;
}

std::string started_message(const pipeline_job& job, pipeline_stage s) {
  switch (s) {
    case pipeline_stage::clone:
      return "cloning " + job.ref + " at " + job.sha.substr(0, 12);
    case pipeline_stage::build:
      return "building the image";
    case pipeline_stage::scan:
      return "scanning the image";
    case pipeline_stage::push:
      return "pushing the image";
    case pipeline_stage::noop:
      return "no-op stage (" + std::to_string(job.noop_ms) + " ms)";
    case pipeline_stage::deploy:
      return "deploying the image";
  }
  return {};
}

pipeline_action make_action(action_kind what) {
  pipeline_action a;
  a.what = what;
  return a;
}

pipeline_action run(pipeline_stage s) {
  pipeline_action a = make_action(action_kind::run_stage);
  a.stage = s;
  return a;
}

pipeline_action record(stage_mark mark) {
  pipeline_action a = make_action(action_kind::record_stage);
  a.mark = std::move(mark);
  return a;
}

stage_mark mark(std::string stage, event_type type, std::string status, std::string message,
                field_list fields = {}) {
  return stage_mark{std::move(stage), type, std::move(status), std::move(message),
                    std::move(fields)};
}

// Leaves the build: its workspace goes (where there is one), and nothing more runs.
pipeline_step close_down(pipeline_position at) {
  pipeline_step step;
  if (at.workspace) {
    step.actions.push_back(make_action(action_kind::remove_workspace));
  }
  at.state = pipeline_state::done;
  step.at = at;
  return step;
}

// Ends the build with `last` (its outcome or hand-back). The workspace goes first, since
// finishing may hand this worker slot to the next build at once.
pipeline_step end_with(const pipeline_position& at, pipeline_action last) {
  pipeline_step step = close_down(at);
  step.actions.push_back(std::move(last));
  return step;
}

pipeline_step finish(const pipeline_position& at, build_end end) {
  pipeline_action a = make_action(action_kind::finish);
  a.end = std::move(end);
  return end_with(at, std::move(a));
}

// A failed step of `stage`, as retry_policy decides: retry later, fail, or dead-letter.
// `started`: whether the stage's stage.started was recorded (then it fails with the build).
pipeline_step fail(const pipeline_job& job, const pipeline_position& at, std::string_view stage,
                   const std::string& message, failure_kind kind, bool started,
                   field_list fields = {}) {
  build_end end;
  if (started) {
    end.stage = mark(std::string(stage), event_type::stage_failed, "failed", message,
                     std::move(fields));
  }
  end.error = message;
  end.message = message;
  const auto d = decide_after_failure(kind, job.attempt, job.queue, job.jitter);
  switch (d.what) {
    case retry_decision::action::retry:
      end.outcome = job_outcome::retry;
      end.retry_delay = d.delay;
      end.message = fmt::format("attempt {} of {} failed: {}; retrying in {:.1f} s", job.attempt,
                                job.queue.max_attempts, message, d.delay.count() / 1000.0);
      break;
    case retry_decision::action::dead_letter:
      end.outcome = job_outcome::dead_letter;
      end.error = fmt::format("{} (gave up after {} attempts)", message, job.attempt);
      end.message = end.error;
      break;
    case retry_decision::action::fail:
      end.outcome = job_outcome::failed;
      break;
  }
  return finish(at, std::move(end));
}

// A job this worker cannot run: it goes to the dead-letter stream at once.
pipeline_step dead_letter(const pipeline_job& job, const pipeline_position& at,
                          const std::string& message) {
  build_end end;
  end.outcome = job_outcome::dead_letter;
  if (job.stage_started) {
    end.stage = mark(job.first_stage, event_type::stage_failed, "failed", message);
  }
  end.message = message;
  end.error = message;
  return finish(at, std::move(end));
}

// Starts stage `s`: its stage.started is recorded first, unless the claim did it already.
pipeline_step enter(const pipeline_job& job, pipeline_position at, pipeline_stage s) {
  at.stage = s;
  const bool claimed_start = s == first_stage(job) && job.stage_started;
  pipeline_step step;
  if (claimed_start) {
    at.state = pipeline_state::running_stage;
    at.workspace = at.workspace || s == pipeline_stage::clone;
    step.actions.push_back(run(s));
  } else {
    at.state = pipeline_state::starting_stage;
    step.actions.push_back(record(mark(std::string(to_string(s)), event_type::stage_started,
                                       "running", started_message(job, s))));
  }
  step.at = at;
  return step;
}

pipeline_step stopped(const pipeline_job& job, const pipeline_position& at, stop_reason reason) {
  switch (reason) {
    case stop_reason::none:
    case stop_reason::lease_lost:
      // Another worker owns the build now: nothing more is written.
      return close_down(at);
    case stop_reason::shutdown: {
      pipeline_action a = make_action(action_kind::release);
      a.message = "handed back by worker " + job.worker + " on shutdown; it starts again at once";
      return end_with(at, std::move(a));
    }
    case stop_reason::cancelled:
    case stop_reason::superseded:
      break;
  }
  const bool superseded = reason == stop_reason::superseded;
  const std::string why = superseded ? "superseded by a newer push" : "cancelled on request";
  const std::string stage(to_string(at.stage));
  build_end end;
  end.outcome = superseded ? job_outcome::superseded : job_outcome::cancelled;
  end.stage = mark(stage, event_type::stage_failed, "cancelled", stage + " stopped: " + why);
  end.message = "build " + why;
  end.error = why;
  return finish(at, std::move(end));
}

pipeline_step stage_done(const pipeline_job& job, pipeline_position at, stage_report report) {
  const std::string stage(to_string(at.stage));
  switch (report.what) {
    case stage_report::status::stopped:
      return stopped(job, at, report.reason);
    case stage_report::status::failed:
      return fail(job, at, stage, report.message, report.kind, true, std::move(report.fields));
    case stage_report::status::succeeded:
      break;
  }
  stage_mark done = mark(stage, event_type::stage_succeeded, "succeeded",
                         std::move(report.message), std::move(report.fields));
  if (next_stage(at.stage, at)) {
    at.state = pipeline_state::closing_stage;
    pipeline_step step;
    step.actions.push_back(record(std::move(done)));
    step.at = at;
    return step;
  }
  build_end end;
  end.stage = std::move(done);
  end.message = std::move(report.summary);
  return finish(at, std::move(end));
}

[[noreturn]] void unexpected(const pipeline_position& at, std::string_view event) {
  throw std::logic_error(fmt::format("pipeline: {} is not expected in state {}", event,
                                     to_string(at.state)));
}

}  // namespace

std::string_view to_string(pipeline_stage s) {
  switch (s) {
    case pipeline_stage::clone: return "clone";
    case pipeline_stage::build: return "build";
    case pipeline_stage::scan: return "scan";
    case pipeline_stage::push: return "push";
    case pipeline_stage::noop: return "noop";
    case pipeline_stage::deploy: return "deploy";
  }
  return "unknown";
}

std::string_view to_string(pipeline_state s) {
  switch (s) {
    case pipeline_state::created: return "created";
    case pipeline_state::resolving_service: return "resolving_service";
    case pipeline_state::starting_stage: return "starting_stage";
    case pipeline_state::running_stage: return "running_stage";
    case pipeline_state::closing_stage: return "closing_stage";
    case pipeline_state::done: return "done";
  }
  return "unknown";
}

pipeline_step start_pipeline(const pipeline_job& job) {
  const pipeline_position at;
  if (job.service.empty() || (job.kind == "push" && job.sha.empty())) {
    return dead_letter(job, at, "the job could not be decoded (its record lacks service or sha)");
  }
  if (job.kind == "noop") {
    return enter(job, at, pipeline_stage::noop);
  }
  if (job.kind != "push" && job.kind != "deploy") {
    return dead_letter(job, at, "unknown job kind \"" + job.kind +
                                    "\"; this worker runs push, deploy and noop");
  }
  pipeline_step step;
  step.at.state = pipeline_state::resolving_service;
  step.actions.push_back(make_action(action_kind::resolve_service));
  return step;
}

pipeline_step advance(const pipeline_job& job, const pipeline_position& at,
                      const pipeline_event& event) {
  if (const auto* found = std::get_if<service_found>(&event)) {
    if (at.state != pipeline_state::resolving_service) {
      unexpected(at, "service_found");
    }
    pipeline_position next = at;
    next.clone_only = found->clone_only;
    next.auto_deploy = found->auto_deploy;
    return enter(job, next, first_stage(job));  // a deploy job: its one stage
  }
  if (const auto* missing = std::get_if<service_unavailable>(&event)) {
    if (at.state != pipeline_state::resolving_service) {
      unexpected(at, "service_unavailable");
    }
    // The first stage fails with it when the claim started it.
    return fail(job, at, to_string(first_stage(job)), missing->message, missing->kind,
                job.stage_started);
  }
  if (const auto* r = std::get_if<recorded>(&event)) {
    if (at.state != pipeline_state::starting_stage && at.state != pipeline_state::closing_stage) {
      unexpected(at, "recorded");
    }
    if (!r->held) {
      return stopped(job, at, stop_reason::lease_lost);
    }
    if (at.state == pipeline_state::closing_stage) {
      return enter(job, at, *next_stage(at.stage, at));
    }
    pipeline_position next = at;
    next.state = pipeline_state::running_stage;
    next.workspace = next.workspace || at.stage == pipeline_stage::clone;
    return pipeline_step{next, {run(at.stage)}};
  }
  const auto& finished = std::get<stage_finished>(event);
  if (at.state != pipeline_state::running_stage) {
    unexpected(at, "stage_finished");
  }
  return stage_done(job, at, finished.report);
}

}  // namespace kiwi
