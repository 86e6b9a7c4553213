#pragma once
// Stepping the pipeline state machine (worker/pipeline.hpp) by hand, for pipeline_test.cpp and
// pipeline_deploy_test.cpp: a push job, stage reports, and `walk`, one build event by event.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "worker/pipeline.hpp"

namespace kiwi::pipeline_testing {

using namespace std::chrono_literals;
using kind = pipeline_action::kind;


inline pipeline_job push_job() {
  pipeline_job j;
  j.kind = "push";
  j.service = "user-api";
  j.ref = "refs/heads/main";
  j.sha = "0123456789abcdef0123456789abcdef01234567";
  j.first_stage = "clone";
  j.stage_started = true;  // as the webhook and the API enqueue it
  j.attempt = 1;
  j.worker = "host-1";
  j.jitter = 0.5;
  j.queue.max_attempts = 3;
  j.queue.retry_base = 2000ms;
  j.queue.retry_max = 300000ms;
  return j;
}

inline stage_report succeeded(std::string message, field_list fields = {}, std::string summary = {}) {
  stage_report r;
  r.message = std::move(message);
  r.fields = std::move(fields);
  r.summary = std::move(summary);
  return r;
}

inline stage_report failed(std::string message, failure_kind k) {
  return stage_report::failed(std::move(message), k);
}

inline stage_report stopped(stop_reason why) { return stage_report::stopped(why); }

// One build, stepped event by event.
struct walk {
  explicit walk(pipeline_job j) : job(std::move(j)), step(start_pipeline(job)) {}
  walk& on(const pipeline_event& e) {
    step = advance(job, step.at, e);
    return *this;
  }
  walk& stage_ends(stage_report r) { return on(stage_finished{std::move(r)}); }
  std::vector<kind> actions() const {
    std::vector<kind> out;
    for (const auto& a : step.actions) {
      out.push_back(a.what);
    }
    return out;
  }
  const pipeline_action& last() const { return step.actions.back(); }
  const build_end& end() const { return last().end; }
  pipeline_state state() const { return step.at.state; }

  pipeline_job job;
  pipeline_step step;
};

// A push build whose clone stage is running (started by the claim).
inline walk cloning(pipeline_job job = push_job(), bool clone_only = false) {
  walk w(std::move(job));
  w.on(service_found{clone_only});
  return w;
}

// A push build whose build stage is running.
inline walk building(pipeline_job job = push_job()) {
  walk w = cloning(std::move(job));
  w.stage_ends(succeeded("checked out", {{"tree", "t1"}})).on(recorded{true}).on(recorded{true});
  return w;
}

}  // namespace kiwi::pipeline_testing
