#include <doctest/doctest.h>

#include <algorithm>

#include "worker/sweep.hpp"

using kiwi::build_process;
using kiwi::disk_survey;
using kiwi::plan_sweep;
using kiwi::stored_container;
using kiwi::sweep_facts;

namespace {

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Two builds on disk: "dead" (over) and "live" (held by another worker's lease).
disk_survey two_builds() {
  disk_survey s;
  s.workspaces = {"dead", "live"};
  s.containers = {stored_container{"c-dead", "dead", 10}, stored_container{"c-live", "live", 20},
                  stored_container{"c-admin", "", 30}};
  s.mirrors = {"shop", "gone"};
  s.dangling_images = true;
  return s;
}

sweep_facts answered() {
  sweep_facts f;
  f.redis_answered = true;
  f.held_builds = {"live"};
  f.services = {"shop"};
  return f;
}

}  // namespace

TEST_CASE("sweep: a build holds its leftovers while leased, waiting or running") {
  // An expired lease still holds: the next claim turns it into a new attempt or an end.
  CHECK(kiwi::build_is_held(true, std::string("succeeded")));
  CHECK(kiwi::build_is_held(false, std::string("queued")));
  CHECK(kiwi::build_is_held(false, std::string("retrying")));
  CHECK(kiwi::build_is_held(false, std::string("running")));
  // Ended, or its record is gone: it never runs again.
  for (const char* status : {"succeeded", "failed", "cancelled", "superseded"}) {
    CHECK_FALSE(kiwi::build_is_held(false, std::string(status)));
  }
  CHECK_FALSE(kiwi::build_is_held(false, std::nullopt));
}

TEST_CASE("sweep: only an ended build's containers and workspace go; a live build's stay") {
  const auto plan = plan_sweep(two_builds(), answered());
  CHECK(plan.containers == std::vector<std::string>{"c-dead"});
  CHECK(plan.workspaces == std::vector<std::string>{"dead"});
  // A container no Kiwi build made (no build id) is never touched.
  CHECK_FALSE(has(plan.containers, "c-admin"));
  CHECK(plan.mirrors == std::vector<std::string>{"gone"});
  CHECK(kiwi::builds_to_check(two_builds()) == std::set<std::string>{"dead", "live"});
}

TEST_CASE("sweep: without Redis's answer nothing that needs a lease check goes") {
  auto facts = answered();
  facts.redis_answered = false;
  auto survey = two_builds();
  survey.processes = {build_process{42, "dead", true}};
  const auto plan = plan_sweep(survey, facts);
  CHECK(plan.containers.empty());
  CHECK(plan.workspaces.empty());
  CHECK(plan.mirrors.empty());
  // An orphan is killed anyway (its worker is gone), and then the storage is idle.
  CHECK(plan.kill == std::vector<int>{42});
  CHECK_FALSE(plan.prune_images);  // the containers stay, and their images with them
  survey.containers.clear();
  CHECK(plan_sweep(survey, facts).prune_images);  // the orphan dies, the storage is idle
}

TEST_CASE("sweep: keep_workspaces keeps workspaces, not containers") {
  auto facts = answered();
  facts.keep_workspaces = true;
  const auto plan = plan_sweep(two_builds(), facts);
  CHECK(plan.workspaces.empty());
  CHECK(plan.containers == std::vector<std::string>{"c-dead"});
}

TEST_CASE("sweep: images are pruned only while no build process uses the storage") {
  auto survey = two_builds();
  survey.processes = {build_process{7, "live", false}, build_process{8, "dead", true}};
  auto plan = plan_sweep(survey, answered());
  CHECK(plan.kill == std::vector<int>{8});  // the live worker's child is not touched
  CHECK_FALSE(plan.prune_images);
  // An admin's buildah (no build id, whatever its parent) is never killed and keeps it busy.
  survey.processes = {build_process{9, "", true}};
  plan = plan_sweep(survey, answered());
  CHECK(plan.kill.empty());
  CHECK_FALSE(plan.prune_images);
  survey.processes.clear();
  CHECK_FALSE(plan_sweep(survey, answered()).prune_images);  // a live build's container stays
  survey.containers = {stored_container{"c-dead", "dead", 10}};
  CHECK(plan_sweep(survey, answered()).prune_images);
  survey.dangling_images = false;
  CHECK_FALSE(plan_sweep(survey, answered()).prune_images);
}

TEST_CASE("sweep: buildah's command line names its storage and build") {
  const std::string root = "/var/lib/kiwi/buildah/storage";
  CHECK(kiwi::buildah_build_id({"buildah", "--root", root, "--runroot", "/x", "bud",
                                "--build-arg", "KIWI_BUILD_ID=01abc", "--build-arg", "A=1", "."},
                               root) == "01abc");
  CHECK(kiwi::buildah_build_id({"/usr/bin/buildah", "--root=" + root + "/", "push", "x"}, root) ==
        "");
  CHECK_FALSE(kiwi::buildah_build_id({"buildah", "--root", "/other", "bud",
                                      "--build-arg", "KIWI_BUILD_ID=01abc"}, root));
  CHECK_FALSE(kiwi::buildah_build_id({"podman", "--root", root}, root));
  CHECK_FALSE(kiwi::buildah_build_id({}, root));
}

TEST_CASE("sweep: reads buildah.json, containers.json, images.json and /proc/<pid>/stat") {
  CHECK(kiwi::builder_build_id(R"({"Args":{"KIWI_BUILD_ID":"01abc","X":"1"},"type":"b"})") ==
        "01abc");
  CHECK(kiwi::builder_build_id(R"({"Args":{}})").empty());
  CHECK(kiwi::builder_build_id("not json").empty());
  const auto containers =
      kiwi::stored_containers(R"([{"id":"c1","layer":"l1","names":["x"]},{"layer":"l2"}])");
  REQUIRE(containers.size() == 1);
  CHECK(containers[0] == std::pair<std::string, std::string>{"c1", "l1"});
  CHECK(kiwi::stored_containers("{").empty());
  CHECK(kiwi::has_unnamed_images(R"([{"id":"a","names":["x"]},{"id":"b"}])"));
  CHECK(kiwi::has_unnamed_images(R"([{"id":"b","names":[]}])"));
  CHECK_FALSE(kiwi::has_unnamed_images(R"([{"id":"a","names":["x"]}])"));
  CHECK_FALSE(kiwi::has_unnamed_images(""));
  const auto state = kiwi::process_state("123 (a (b) c) S 1 123 123 0 -1");
  REQUIRE(state);
  CHECK(state->first == 'S');
  CHECK(state->second == 1);
  CHECK_FALSE(kiwi::process_state("123 (x)"));
}

TEST_CASE("sweep: only plain names are build workspaces or mirrors") {
  CHECK(kiwi::plain_name("01jf3k2m9x8v7c6b5n4q3w2e1r"));
  CHECK(kiwi::plain_name("user-api"));
  for (const char* bad : {"", ".", "..", "a/b", "-x", ".hidden", "a b"}) {
    CHECK_FALSE(kiwi::plain_name(bad));
  }
}

TEST_CASE("sweep: buildah's warning about Kiwi's own build argument is not shown") {
  const std::string w = "[Warning] one or more build args were not consumed: ";
  CHECK_FALSE(kiwi::without_build_id_warning(w + "[KIWI_BUILD_ID]"));
  CHECK(kiwi::without_build_id_warning(w + "[A KIWI_BUILD_ID Z]") == w + "[A Z]");
  CHECK(kiwi::without_build_id_warning("STEP 1/2: FROM x") == "STEP 1/2: FROM x");
}
