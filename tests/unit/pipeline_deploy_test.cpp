// The deploy stage's paths through the pipeline state machine (worker/pipeline.hpp): a push
// build that deploys after its push, a failed deploy, a deploy job. Stepped by hand.

#include <doctest/doctest.h>

#include "tests/unit/pipeline_walk.hpp"

using namespace kiwi;
using namespace kiwi::pipeline_testing;

namespace {

// service found with an auto_deploy environment; clone, build and scan run and close; the
// push stage is running.
walk pushing() {
  walk w(push_job());
  w.on(service_found{false, true});
  w.stage_ends(succeeded("checked out", {{"tree", "t1"}})).on(recorded{true}).on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::build);
  w.stage_ends(succeeded("built")).on(recorded{true}).on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::scan);
  w.stage_ends(succeeded("no findings; scan gate passed")).on(recorded{true}).on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::push);
  return w;
}

}  // namespace

// A service with an auto_deploy environment: deploy follows the push, and ends the build.
TEST_CASE("pipeline: a push build with auto_deploy ends with the deploy stage") {
  walk w = pushing();
  w.stage_ends(succeeded("pushed", {{"digest", "sha256:ab"}}));
  CHECK(w.state() == pipeline_state::closing_stage);
  w.on(recorded{true});
  CHECK(w.last().mark.stage == "deploy");
  CHECK(w.last().mark.message == "deploying the image");
  w.on(recorded{true});
  CHECK(w.actions() == std::vector{kind::run_stage});
  CHECK(w.last().stage == pipeline_stage::deploy);
  w.stage_ends(succeeded("deployed development revision 1", {}, "deployed"));
  CHECK(w.end().outcome == job_outcome::succeeded);
  CHECK(w.end().stage->stage == "deploy");
  CHECK(w.end().message == "deployed");
}

// A failed deploy fails the build (never retried: a retry would build again).
TEST_CASE("pipeline: a failed deploy fails the build") {
  walk w = pushing();
  w.stage_ends(succeeded("pushed")).on(recorded{true}).on(recorded{true});
  w.stage_ends(failed("deploy failed: exited with code 1", failure_kind::permanent));
  CHECK(w.end().outcome == job_outcome::failed);
  CHECK(w.end().stage->stage == "deploy");
  CHECK(w.end().stage->status == "failed");
}

// A deploy job (API deploys and rollbacks): the service, then its one deploy stage, no clone.
TEST_CASE("pipeline: a deploy job runs only the deploy stage") {
  pipeline_job job = push_job();
  job.kind = "deploy";
  job.sha.clear();
  job.first_stage.clear();
  job.stage_started = false;
  walk w(job);
  CHECK(w.actions() == std::vector{kind::resolve_service});
  w.on(service_found{false, false});
  CHECK(w.last().mark.stage == "deploy");
  w.on(recorded{true});
  CHECK(w.last().stage == pipeline_stage::deploy);
  CHECK_FALSE(w.step.at.workspace);
  w.stage_ends(stopped(stop_reason::lease_lost));
  CHECK(w.state() == pipeline_state::done);
  CHECK(w.actions().empty());  // another worker owns it: nothing written, no workspace
}

