#pragma once
// The order of a build's stages and what ends it, as a pure state machine: state + event ->
// next state + the actions to perform. No I/O, no clocks, no Redis: job_runner performs the
// actions (records events, runs stages, writes the outcome) and feeds their answers back as
// events; tests step it by hand (tests/unit/pipeline_test.cpp). docs/pipeline.md shows the
// states and how a stage is added.
//
// A push build: resolve the service's settings, clone, then build, scan and push the image
// unless the service's dockerfile mode is none. A noop build: one stage that sleeps. Each stage
// is started (its stage.started recorded, unless the claim already did it for the first stage),
// run, and closed (stage.succeeded recorded) before the next one starts; the last stage's
// stage.succeeded goes with the outcome. A failure, a stop or a lost lease ends the build.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/base/failure_kind.hpp"
#include "common/config/config.hpp"
#include "common/queue/build_event.hpp"
#include "common/queue/job_queue.hpp"

namespace kiwi {

// The stages a build may run. A new stage (scan, deploy) is a value here, its place in
// next_stage() (pipeline.cpp) and its started message; job_runner runs it.
enum class pipeline_stage { clone, build, scan, push, noop, deploy };
std::string_view to_string(pipeline_stage s);

// Why a running build is asked to stop.
enum class stop_reason { none, cancelled, superseded, lease_lost, shutdown };

// What the machine needs to know of a claimed build (read from its record by job_runner).
struct pipeline_job {
  std::string kind = "push";  // "push", "noop" or "deploy"; another kind is dead-lettered
  std::string service;
  std::string ref;
  std::string sha;
  std::string first_stage;     // the stage the claim started (the record's first_stage)
  bool stage_started = false;  // the claim already recorded the first stage's stage.started
  unsigned attempt = 1;        // this try, counting from 1
  long long noop_ms = 0;       // noop: how long its stage sleeps
  std::string worker;          // this worker's name (for the shutdown hand-back message)
  double jitter = 0;           // in [0, 1): spreads a retry's backoff (retry_policy.hpp)
  queue_config queue;          // max_attempts and the retry backoff
};

enum class pipeline_state {
  created,            // start() not called yet
  resolving_service,  // push: the service's settings are being read
  starting_stage,     // the stage's stage.started is being recorded
  running_stage,      // the stage runs
  closing_stage,      // the stage's stage.succeeded is being recorded; another stage follows
  done,               // the outcome or the hand-back is written, or the lease was lost
};
std::string_view to_string(pipeline_state s);

struct pipeline_position {
  pipeline_state state = pipeline_state::created;
  pipeline_stage stage = pipeline_stage::clone;  // in the *_stage states
  bool clone_only = false;  // the service's dockerfile mode is none: clone is the last stage
  bool auto_deploy = false; // an environment deploys automatically: deploy follows the push
  bool workspace = false;   // the clone stage ran: a workspace may exist, removed at the end
};

// A stage event for job_runner to stamp with the time and record; its build-record fields
// (started_at, or finished_at and status) are added there, `fields` are the stage's own.
struct stage_mark {
  std::string stage;
  event_type type = event_type::stage_started;
  std::string status;  // running, succeeded, failed, cancelled
  std::string message;
  field_list fields;
};

// How the build ends (job_queue::finish); the final event's type and status follow the outcome.
struct build_end {
  job_outcome outcome = job_outcome::succeeded;
  std::optional<stage_mark> stage;  // stored before the final event
  std::string message;              // the final event's message
  std::string error;                // failed, dead_letter, retry, cancelled, superseded
  std::chrono::milliseconds retry_delay{0};  // retry: how long until the next try
};

struct pipeline_action {
  enum class kind {
    resolve_service,  // read the service's settings; answer service_found/service_unavailable
    record_stage,     // record `mark` (fenced by the lease); answer recorded
    run_stage,        // run `stage`; answer stage_finished
    remove_workspace,
    finish,   // write `end` as the build's outcome
    release,  // hand the build back to the queue (shutdown) with `message`
  } what = kind::finish;
  pipeline_stage stage = pipeline_stage::clone;
  stage_mark mark;
  build_end end;
  std::string message;
};

// What a stage came to, as job_runner reports it.
struct stage_report {
  enum class status { succeeded, failed, stopped } what = status::succeeded;
  std::string message;  // succeeded: stage.succeeded's text; failed: the error
  field_list fields;    // build-record fields (tree, image, digest, a failed scan's summary)
  std::string summary;  // succeeded: build.succeeded's text when this stage ends the build
  failure_kind kind = failure_kind::permanent;  // failed
  stop_reason reason = stop_reason::none;       // stopped

  static stage_report failed(std::string message, failure_kind kind) {
    stage_report r;
    r.what = status::failed;
    r.message = std::move(message);
    r.kind = kind;
    return r;
  }
  static stage_report stopped(stop_reason why) {
    stage_report r;
    r.what = status::stopped;
    r.reason = why;
    return r;
  }
};

// Answers to the actions.
struct service_found {
  bool clone_only = false;   // dockerfile mode none
  bool auto_deploy = false;  // an environment has auto_deploy
};
struct service_unavailable {
  std::string message;
  failure_kind kind = failure_kind::permanent;  // transient: Redis could not be read
};
struct recorded {
  bool held = true;  // false: the lease is gone (another worker owns the build)
};
struct stage_finished {
  stage_report report;
};
using pipeline_event = std::variant<service_found, service_unavailable, recorded, stage_finished>;

struct pipeline_step {
  pipeline_position at;
  // In order; at most one asks for an answer (resolve_service, record_stage, run_stage), last.
  std::vector<pipeline_action> actions;
};

// The first step of a claimed build.
pipeline_step start_pipeline(const pipeline_job& job);
// The step after `event` answered the last action of the previous step. An event the state
// does not expect is a bug in the caller: std::logic_error.
pipeline_step advance(const pipeline_job& job, const pipeline_position& at,
                      const pipeline_event& event);

}  // namespace kiwi
