// The pipeline state machine (worker/pipeline.hpp), stepped by hand through every path a build
// can take: no Redis, no clocks, no processes. job_runner performs what these steps ask for.

#include <doctest/doctest.h>

#include <stdexcept>

#include "common/queue/retry_policy.hpp"
#include "tests/unit/pipeline_walk.hpp"
#include "worker/pipeline.hpp"

using namespace kiwi;
using namespace kiwi::pipeline_testing;
using namespace std::chrono_literals;
using kind = pipeline_action::kind;

// A push build: service, clone (started by the claim), clone closed, then build, scan and push
// each started, run and closed; the outcome carries the push stage's fields; the workspace goes
// before the outcome.
TEST_CASE("pipeline: a push build runs clone, build, scan, push and finishes succeeded") {
  walk w(push_job());
  CHECK(w.state() == pipeline_state::resolving_service);
  CHECK(w.actions() == std::vector{kind::resolve_service});

  w.on(service_found{false});
  CHECK(w.state() == pipeline_state::running_stage);
  CHECK(w.actions() == std::vector{kind::run_stage});
  CHECK(w.last().stage == pipeline_stage::clone);

  w.stage_ends(succeeded("checked out 0123456789ab (3 files)", {{"tree", "t1"}}, "unused"));
  CHECK(w.state() == pipeline_state::closing_stage);
  CHECK(w.actions() == std::vector{kind::record_stage});
  CHECK(w.last().mark.stage == "clone");
  CHECK(w.last().mark.type == event_type::stage_succeeded);
  CHECK(w.last().mark.status == "succeeded");
  CHECK(w.last().mark.message == "checked out 0123456789ab (3 files)");
  CHECK(w.last().mark.fields == field_list{{"tree", "t1"}});

  w.on(recorded{true});
  CHECK(w.state() == pipeline_state::starting_stage);
  CHECK(w.actions() == std::vector{kind::record_stage});
  CHECK(w.last().mark.stage == "build");
  CHECK(w.last().mark.type == event_type::stage_started);
  CHECK(w.last().mark.status == "running");
  CHECK(w.last().mark.message == "building the image");

  w.on(recorded{true});
  CHECK(w.state() == pipeline_state::running_stage);
  CHECK(w.actions() == std::vector{kind::run_stage});
  CHECK(w.last().stage == pipeline_stage::build);

  w.stage_ends(succeeded("built r/user-api:main-0123456 in 9 ms",
                         {{"image", "r/user-api:main-0123456"}, {"image_id", "sha256:1d"}}));
  CHECK(w.state() == pipeline_state::closing_stage);
  CHECK(w.last().mark.stage == "build");
  w.on(recorded{true});
  CHECK(w.last().mark.stage == "scan");
  CHECK(w.last().mark.message == "scanning the image");
  w.on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::scan);
  w.stage_ends(succeeded("no findings; scan gate passed", {{"scan", "{}"}}));
  CHECK(w.state() == pipeline_state::closing_stage);
  CHECK(w.last().mark.stage == "scan");
  CHECK(w.last().mark.fields == field_list{{"scan", "{}"}});
  w.on(recorded{true});
  CHECK(w.last().mark.stage == "push");
  CHECK(w.last().mark.message == "pushing the image");
  w.on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::push);

  w.stage_ends(succeeded("pushed r/user-api:main-0123456@sha256:ab in 9 ms",
                         {{"digest", "sha256:ab"}},
                         "built and pushed r/user-api:main-0123456@sha256:ab"));
  CHECK(w.state() == pipeline_state::done);
  CHECK(w.actions() == std::vector{kind::remove_workspace, kind::finish});
  CHECK(w.end().outcome == job_outcome::succeeded);
  REQUIRE(w.end().stage);
  CHECK(w.end().stage->stage == "push");
  CHECK(w.end().stage->type == event_type::stage_succeeded);
  CHECK(w.end().stage->fields.size() == 1);
  CHECK(w.end().message == "built and pushed r/user-api:main-0123456@sha256:ab");
  CHECK(w.end().error.empty());
}

// A failed scan gate ends the build before the push: permanent, with the scan's summary in the
// failed stage's record fields.
TEST_CASE("pipeline: a failed scan ends the build before the push, with its summary") {
  walk w = building();
  w.stage_ends(succeeded("built", {{"image", "r/a:1"}})).on(recorded{true}).on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::scan);
  stage_report gate = failed("scan gate failed: 1 finding at or above CRITICAL",
                             failure_kind::permanent);
  gate.fields = {{"scan", R"({"status":"failed"})"}};
  w.stage_ends(gate);
  CHECK(w.state() == pipeline_state::done);
  CHECK(w.end().outcome == job_outcome::failed);
  REQUIRE(w.end().stage);
  CHECK(w.end().stage->stage == "scan");
  CHECK(w.end().stage->type == event_type::stage_failed);
  CHECK(w.end().stage->fields == field_list{{"scan", R"({"status":"failed"})"}});
  // A transient push failure retries the build.
  walk p = building();
  p.stage_ends(succeeded("built", {})).on(recorded{true}).on(recorded{true});
  p.stage_ends(succeeded("scanned", {})).on(recorded{true}).on(recorded{true});
  CHECK(p.last().stage == pipeline_stage::push);
  p.stage_ends(failed("registry unreachable", failure_kind::transient));
  CHECK(p.end().outcome == job_outcome::retry);
  CHECK(p.end().stage->stage == "push");
}

// Without a first stage started by the claim, the worker records clone's stage.started.
TEST_CASE("pipeline: a clone the claim did not start is started by the worker") {
  pipeline_job job = push_job();
  job.stage_started = false;
  walk w(job);
  w.on(service_found{false});
  CHECK(w.state() == pipeline_state::starting_stage);
  CHECK(w.actions() == std::vector{kind::record_stage});
  CHECK(w.last().mark.stage == "clone");
  CHECK(w.last().mark.type == event_type::stage_started);
  CHECK(w.last().mark.message == "cloning refs/heads/main at 0123456789ab");
  w.on(recorded{true});
  CHECK(w.actions() == std::vector{kind::run_stage});
  CHECK(w.last().stage == pipeline_stage::clone);
}

// Dockerfile mode none: the build stage is skipped; clone's success is the outcome.
TEST_CASE("pipeline: a clone-only service ends with the clone") {
  walk w = cloning(push_job(), true);
  w.stage_ends(succeeded("checked out 0123456789ab", {{"tree", "t1"}}, "build finished in 12 ms"));
  CHECK(w.state() == pipeline_state::done);
  CHECK(w.actions() == std::vector{kind::remove_workspace, kind::finish});
  CHECK(w.end().outcome == job_outcome::succeeded);
  REQUIRE(w.end().stage);
  CHECK(w.end().stage->stage == "clone");
  CHECK(w.end().stage->message == "checked out 0123456789ab");
  CHECK(w.end().stage->fields == field_list{{"tree", "t1"}});
  CHECK(w.end().message == "build finished in 12 ms");
}

// A transient failure before the last attempt retries after retry_policy's backoff.
TEST_CASE("pipeline: a transient clone failure retries with backoff") {
  walk w = cloning();
  w.stage_ends(failed("Connection timeout: check firewall settings", failure_kind::transient));
  CHECK(w.actions() == std::vector{kind::remove_workspace, kind::finish});
  const auto& end = w.end();
  CHECK(end.outcome == job_outcome::retry);
  CHECK(end.retry_delay == backoff_delay(1, 2000ms, 300000ms, 0.5));
  CHECK(end.message == "attempt 1 of 3 failed: Connection timeout: check firewall settings; "
                       "retrying in 1.5 s");
  CHECK(end.error == "Connection timeout: check firewall settings");
  REQUIRE(end.stage);
  CHECK(end.stage->stage == "clone");
  CHECK(end.stage->type == event_type::stage_failed);
  CHECK(end.stage->status == "failed");
  CHECK(end.stage->message == "Connection timeout: check firewall settings");
}

// The last attempt's transient failure goes to the dead-letter stream.
TEST_CASE("pipeline: a transient failure on the last attempt dead-letters") {
  pipeline_job job = push_job();
  job.attempt = 3;
  walk w = cloning(job);
  w.stage_ends(failed("the git server answered 502", failure_kind::transient));
  CHECK(w.end().outcome == job_outcome::dead_letter);
  CHECK(w.end().error == "the git server answered 502 (gave up after 3 attempts)");
  CHECK(w.end().message == w.end().error);
  CHECK(w.end().retry_delay == 0ms);
}

// A permanent failure fails at once, whatever the attempt.
TEST_CASE("pipeline: a permanent clone failure fails at once") {
  walk w = cloning();
  w.stage_ends(failed("Authentication failed: check the token", failure_kind::permanent));
  CHECK(w.actions() == std::vector{kind::remove_workspace, kind::finish});
  CHECK(w.end().outcome == job_outcome::failed);
  CHECK(w.end().error == "Authentication failed: check the token");
  CHECK(w.end().message == "Authentication failed: check the token");
  REQUIRE(w.end().stage);
  CHECK(w.end().stage->stage == "clone");
}

// Build stage failures name the build stage; transient retries, permanent fails (a missing
// registry is reported this way too).
TEST_CASE("pipeline: build stage failures, transient and permanent") {
  walk transient = building();
  transient.stage_ends(failed("registry answered 503", failure_kind::transient));
  CHECK(transient.actions() == std::vector{kind::remove_workspace, kind::finish});
  CHECK(transient.end().outcome == job_outcome::retry);
  REQUIRE(transient.end().stage);
  CHECK(transient.end().stage->stage == "build");

  walk permanent = building();
  permanent.stage_ends(failed("registry \"gone\" does not exist", failure_kind::permanent));
  CHECK(permanent.end().outcome == job_outcome::failed);
  REQUIRE(permanent.end().stage);
  CHECK(permanent.end().stage->stage == "build");
  CHECK(permanent.end().stage->status == "failed");
}

// A cancel request seen mid-stage: the stage and the build end cancelled.
TEST_CASE("pipeline: cancel mid-clone") {
  walk w = cloning();
  w.stage_ends(stopped(stop_reason::cancelled));
  CHECK(w.state() == pipeline_state::done);
  CHECK(w.actions() == std::vector{kind::remove_workspace, kind::finish});
  CHECK(w.end().outcome == job_outcome::cancelled);
  CHECK(w.end().message == "build cancelled on request");
  CHECK(w.end().error == "cancelled on request");
  REQUIRE(w.end().stage);
  CHECK(w.end().stage->stage == "clone");
  CHECK(w.end().stage->type == event_type::stage_failed);
  CHECK(w.end().stage->status == "cancelled");
  CHECK(w.end().stage->message == "clone stopped: cancelled on request");
}

// A newer push to the same ref mid-build: superseded.
TEST_CASE("pipeline: superseded mid-build") {
  walk w = building();
  w.stage_ends(stopped(stop_reason::superseded));
  CHECK(w.end().outcome == job_outcome::superseded);
  CHECK(w.end().message == "build superseded by a newer push");
  REQUIRE(w.end().stage);
  CHECK(w.end().stage->message == "build stopped: superseded by a newer push");
}

// Shutdown: the build is handed back (release), not finished.
TEST_CASE("pipeline: shutdown mid-build hands the build back") {
  walk w = building();
  w.stage_ends(stopped(stop_reason::shutdown));
  CHECK(w.state() == pipeline_state::done);
  CHECK(w.actions() == std::vector{kind::remove_workspace, kind::release});
  CHECK(w.last().message == "handed back by worker host-1 on shutdown; it starts again at once");
}

// A lost lease (seen at a heartbeat, or by a refused record) writes nothing more.
TEST_CASE("pipeline: a lost lease writes nothing more") {
  walk mid_stage = building();
  mid_stage.stage_ends(stopped(stop_reason::lease_lost));
  CHECK(mid_stage.state() == pipeline_state::done);
  CHECK(mid_stage.actions() == std::vector{kind::remove_workspace});

  walk closing = cloning();
  closing.stage_ends(succeeded("checked out"));
  closing.on(recorded{false});
  CHECK(closing.state() == pipeline_state::done);
  CHECK(closing.actions() == std::vector{kind::remove_workspace});

  pipeline_job job = push_job();
  job.stage_started = false;
  walk starting(job);
  starting.on(service_found{false}).on(recorded{false});
  CHECK(starting.state() == pipeline_state::done);
  CHECK(starting.actions().empty());  // no clone ran: no workspace to remove
}

// The service's settings: Redis down retries, an unknown service fails; the clone stage the
// claim started fails with it, and no workspace exists yet.
TEST_CASE("pipeline: the service cannot be read or does not exist") {
  walk down(push_job());
  down.on(service_unavailable{"cannot read the service's settings (timeout)",
                              failure_kind::transient});
  CHECK(down.actions() == std::vector{kind::finish});
  CHECK(down.end().outcome == job_outcome::retry);
  REQUIRE(down.end().stage);
  CHECK(down.end().stage->stage == "clone");

  walk gone(push_job());
  gone.on(service_unavailable{"service \"user-api\" is neither ...", failure_kind::permanent});
  CHECK(gone.end().outcome == job_outcome::failed);
  CHECK(gone.end().error == "service \"user-api\" is neither ...");

  pipeline_job unstarted = push_job();
  unstarted.stage_started = false;
  walk quiet(unstarted);
  quiet.on(service_unavailable{"gone", failure_kind::permanent});
  CHECK_FALSE(quiet.end().stage);  // no stage.failed for a stage that never started
}

// Jobs this worker cannot run go to the dead-letter stream at once, on any attempt.
TEST_CASE("pipeline: undecodable jobs and unknown kinds are dead-lettered") {
  pipeline_job no_sha = push_job();
  no_sha.sha.clear();
  walk a(no_sha);
  CHECK(a.state() == pipeline_state::done);
  CHECK(a.actions() == std::vector{kind::finish});
  CHECK(a.end().outcome == job_outcome::dead_letter);
  CHECK(a.end().error == "the job could not be decoded (its record lacks service or sha)");
  REQUIRE(a.end().stage);
  CHECK(a.end().stage->stage == "clone");  // the stage the claim started fails with it

  pipeline_job odd = push_job();
  odd.kind = "teleport";
  odd.stage_started = false;
  walk b(odd);
  CHECK(b.end().outcome == job_outcome::dead_letter);
  CHECK(b.end().error ==
        "unknown job kind \"teleport\"; this worker runs push, deploy and noop");
  CHECK_FALSE(b.end().stage);
}

// noop: one stage that needs no service and leaves no workspace.
TEST_CASE("pipeline: a noop build, started by the claim or not, and cancelled") {
  pipeline_job job = push_job();
  job.kind = "noop";
  job.first_stage = "noop";
  job.sha.clear();
  job.noop_ms = 250;
  walk claimed(job);
  CHECK(claimed.actions() == std::vector{kind::run_stage});
  CHECK(claimed.last().stage == pipeline_stage::noop);
  claimed.stage_ends(succeeded("done", {}, "build finished"));
  CHECK(claimed.actions() == std::vector{kind::finish});
  CHECK(claimed.end().outcome == job_outcome::succeeded);
  CHECK(claimed.end().message == "build finished");

  job.stage_started = false;
  walk unclaimed(job);
  CHECK(unclaimed.actions() == std::vector{kind::record_stage});
  CHECK(unclaimed.last().mark.message == "no-op stage (250 ms)");
  unclaimed.on(recorded{true}).stage_ends(stopped(stop_reason::cancelled));
  CHECK(unclaimed.actions() == std::vector{kind::finish});
  CHECK(unclaimed.end().outcome == job_outcome::cancelled);
  CHECK(unclaimed.end().stage->message == "noop stopped: cancelled on request");
}

// An answer the state does not wait for is a bug in the caller, refused loudly.
TEST_CASE("pipeline: an unexpected event is refused") {
  walk w(push_job());
  CHECK_THROWS_AS(advance(w.job, w.step.at, recorded{true}), std::logic_error);
  CHECK_THROWS_AS(advance(w.job, w.step.at, stage_finished{succeeded("x")}), std::logic_error);
  w.on(service_found{false});
  CHECK_THROWS_AS(advance(w.job, w.step.at, service_found{false}), std::logic_error);
  w.stage_ends(stopped(stop_reason::lease_lost));
  CHECK_THROWS_AS(advance(w.job, w.step.at, stage_finished{succeeded("x")}), std::logic_error);
}
