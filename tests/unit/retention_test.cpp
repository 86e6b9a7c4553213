// Retention (docs/redis.md#retention) against a real redis-server: which ended builds go, that
// every key of a removed build goes with it, what is always kept, and how much one call may do.

#include <doctest/doctest.h>

#include "queue_fixture.hpp"

using namespace std::chrono_literals;
using kiwi::test::queue_fixture;

namespace {

const auto long_ago = std::chrono::system_clock::now() - std::chrono::hours(24 * 10);

struct retention_fixture : queue_fixture {
  // Builds of `service` queued at `at` (1 ms apart), claimed, and ended as `outcomes` says.
  std::vector<std::string> ended_builds(const std::string& service,
                                        std::vector<kiwi::job_outcome> outcomes,
                                        std::chrono::system_clock::time_point at) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      out.push_back(enqueue(service, "refs/heads/b" + std::to_string(i), 1000, false,
                            at + std::chrono::milliseconds(i)));
    }
    auto jobs = claim(static_cast<unsigned>(outcomes.size()));
    REQUIRE(jobs.size() == outcomes.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      REQUIRE(jobs[i].build_id == out[i]);
      REQUIRE(finish(jobs[i], outcomes[i]).held);
    }
    return out;
  }

  std::vector<std::string> ended_builds(const std::string& service, std::size_t n,
                                        kiwi::job_outcome outcome,
                                        std::chrono::system_clock::time_point at) {
    return ended_builds(service, std::vector<kiwi::job_outcome>(n, outcome), at);
  }

  long long pruned(const kiwi::retention_config& policy, const std::string& service,
                   unsigned limit = 100) {
    auto [ec, out] = run(queue.prune(policy, service, limit));
    REQUIRE(!ec);
    return out.removed;
  }

  // Whether anything of the build is left: its record, its event stream (log lines included),
  // its scan report, its entry in the service's history.
  bool any_key_left(const std::string& service, const std::string& id) {
    return command(kiwi::redis_args("EXISTS", kiwi::keys::build(id))).integer != 0 ||
           command(kiwi::redis_args("EXISTS", kiwi::keys::build_events(id))).integer != 0 ||
           command(kiwi::redis_args("EXISTS", kiwi::keys::build_scan_report(id))).integer != 0 ||
           command(kiwi::redis_args("ZSCORE", kiwi::keys::service_builds(service), id)).type !=
               kiwi::redis_value::kind::nil;
  }

  bool whole(const std::string& service, const std::string& id) {
    return command(kiwi::redis_args("EXISTS", kiwi::keys::build(id))).integer == 1 &&
           command(kiwi::redis_args("XLEN", kiwi::keys::build_events(id))).integer > 0 &&
           command(kiwi::redis_args("ZSCORE", kiwi::keys::service_builds(service), id)).type !=
               kiwi::redis_value::kind::nil;
  }

  long long history(const std::string& service) {
    return command(kiwi::redis_args("ZCARD", kiwi::keys::service_builds(service))).integer;
  }
};

}  // namespace

TEST_CASE("retention removes exactly the old builds beyond the newest N, with all their keys") {
  retention_fixture f;
  using o = kiwi::job_outcome;
  // Eight builds from ten days ago (the second one the service's last success), then two now.
  auto old = f.ended_builds("a", {o::failed, o::succeeded, o::failed, o::cancelled, o::failed,
                                  o::superseded, o::failed, o::failed},
                            long_ago);
  auto recent = f.ended_builds("a", 2, o::failed, std::chrono::system_clock::now());
  // A stage.log line, as workers store them: it goes with its build.
  kiwi::build_event log;
  log.type = kiwi::event_type::stage_log;
  log.build_id = old[0];
  log.service = "a";
  log.message = "step 1/3";
  REQUIRE(f.run(f.queue.record(log, {}, "")).second);
  // Scan reports, as scan stages store them: each goes with its build.
  for (const auto& id : {old[0], old[2], old[7]}) {
    REQUIRE(!f.run(f.queue.store_scan_report(id, R"({"SchemaVersion":2})")));
  }

  const kiwi::retention_config policy{3, 1};  // the newest 3, and those of the last day
  CHECK(f.pruned(policy, "a") == 6);
  // Beyond the newest three (recent[1], recent[0], old[7]) and older than a day: old[0..6],
  // except old[1], the last success.
  for (std::size_t i : {0, 2, 3, 4, 5, 6}) {
    CHECK_MESSAGE(!f.any_key_left("a", old[i]), "old build " << i << " left keys behind");
  }
  for (const auto& id : {old[1], old[7], recent[0], recent[1]}) {
    CHECK(f.whole("a", id));
  }
  CHECK(f.run(f.queue.scan_report(old[7])).second == R"({"SchemaVersion":2})");
  CHECK_FALSE(f.run(f.queue.scan_report(old[0])).second);
  CHECK(f.history("a") == 4);
  CHECK(f.pruned(policy, "a") == 0);  // nothing more to do
  CHECK(f.command(kiwi::redis_args("HGET", kiwi::keys::retention(), "pruned")).str == "6");
}

TEST_CASE("retention keeps recent builds beyond N: whichever rule keeps more wins") {
  retention_fixture f;
  f.ended_builds("a", 1, kiwi::job_outcome::succeeded, long_ago);
  auto recent = f.ended_builds("a", 6, kiwi::job_outcome::failed, std::chrono::system_clock::now());
  CHECK(f.pruned(kiwi::retention_config{2, 1}, "a") == 0);  // within a day: all stay
  for (const auto& id : recent) {
    CHECK(f.whole("a", id));
  }
  // And old builds within the newest N stay too.
  retention_fixture g;
  auto old = g.ended_builds("b", 4, kiwi::job_outcome::failed, long_ago);
  CHECK(g.pruned(kiwi::retention_config{4, 1}, "b") == 0);
  CHECK(g.history("b") == 4);
}

TEST_CASE("retention never removes a protected build, a running one or a queued one") {
  retention_fixture f;
  auto old = f.ended_builds("a", 6, kiwi::job_outcome::failed, long_ago);
  // One more old build running, one queued (claimed later than the rest).
  const auto running = f.enqueue("a", "refs/heads/r", 1000, false, long_ago + 10ms);
  const auto queued = f.enqueue("a", "refs/heads/q", 1000, false, long_ago + 11ms);
  REQUIRE(f.claim(1).size() == 1);
  REQUIRE(f.field(running, "status") == "running");
  // A deployment revision references old[2].
  REQUIRE(!f.run(f.queue.protect_build("a", old[2])));
  // No success yet: a history without a last success keeps nothing for that reason.
  CHECK(f.pruned(kiwi::retention_config{0, 1}, "a") == 5);
  CHECK(f.whole("a", old[2]));
  CHECK(f.whole("a", running));
  CHECK(f.whole("a", queued));
  CHECK(f.history("a") == 3);
  // Unprotected, it goes at the next step.
  REQUIRE(!f.run(f.queue.unprotect_build("a", old[2])));
  CHECK(f.pruned(kiwi::retention_config{0, 1}, "a") == 1);
  CHECK(!f.any_key_left("a", old[2]));
}

TEST_CASE("the last successful build is kept however old, and only the newest success") {
  retention_fixture f;
  using o = kiwi::job_outcome;
  auto old = f.ended_builds("a", {o::succeeded, o::succeeded, o::failed}, long_ago);
  f.ended_builds("a", 3, o::failed, std::chrono::system_clock::now() - std::chrono::hours(48));
  CHECK(f.pruned(kiwi::retention_config{0, 1}, "a") == 5);
  CHECK(f.whole("a", old[1]));
  CHECK(f.history("a") == 1);
}

TEST_CASE("one retention call removes at most its limit; finish prunes a few per build") {
  retention_fixture f;
  f.ended_builds("a", 1, kiwi::job_outcome::succeeded, long_ago - 1h);
  f.ended_builds("a", 40, kiwi::job_outcome::failed, long_ago);
  const kiwi::retention_config policy{0, 1};
  CHECK(f.pruned(policy, "a", 16) == 16);
  CHECK(f.pruned(policy, "a", 16) == 16);
  CHECK(f.pruned(policy, "a", 16) == 8);
  CHECK(f.history("a") == 1);  // the last success

  // With a policy set, a finish prunes its service in the same script: prune_batch at most.
  retention_fixture g;
  g.ended_builds("b", 1, kiwi::job_outcome::succeeded, long_ago - 1h);
  g.ended_builds("b", 40, kiwi::job_outcome::failed, long_ago);
  g.queue.set_retention(kiwi::retention_config{5, 1});
  auto fresh = g.ended_builds("b", 1, kiwi::job_outcome::failed, std::chrono::system_clock::now());
  CHECK(g.history("b") == 42 - static_cast<long long>(kiwi::job_queue::prune_batch));
  CHECK(g.whole("b", fresh[0]));
}

TEST_CASE("the retention sweep walks every service a step at a time, on a shared cursor") {
  retention_fixture f;
  for (const char* svc : {"a", "b", "c"}) {
    f.ended_builds(svc, 1, kiwi::job_outcome::succeeded, long_ago - 1h);
    f.ended_builds(svc, 5, kiwi::job_outcome::failed, long_ago);
  }
  const kiwi::retention_config policy{2, 1};
  // Each service has 6 builds: the 4 old ones beyond the newest 2 are candidates, minus the
  // last success: 3 per service. A limit of 4 per step spreads the work over steps.
  long long removed = 0;
  for (int step = 0; step < 10 && removed < 9; ++step) {
    auto [ec, out] = f.run(f.queue.sweep_retention(policy, 16, 4));
    REQUIRE(!ec);
    CHECK(out.removed <= 4);
    removed += out.removed;
  }
  CHECK(removed == 9);
  for (const char* svc : {"a", "b", "c"}) {
    CHECK(f.history(svc) == 3);
  }
}

TEST_CASE("a build past retention is answered with a message that says so") {
  const kiwi::retention_config policy{200, 90};
  const auto now = std::chrono::system_clock::now();
  const std::string old_id = kiwi::new_build_id(now - std::chrono::hours(24 * 100), 7);
  const std::string msg = kiwi::missing_build_message(old_id, policy, now);
  CHECK(msg.starts_with("no build " + old_id + ": it was queued on "));
  CHECK(msg.find("retention removes builds older than 90 days beyond their service's newest "
                 "200") != std::string::npos);
  const std::string new_id = kiwi::new_build_id(now - std::chrono::hours(24), 7);
  CHECK(kiwi::missing_build_message(new_id, policy, now) == "no build " + new_id);
  CHECK(kiwi::missing_build_message("not-an-id", policy, now) == "no build not-an-id");
  CHECK(kiwi::build_id_time(old_id).has_value());
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(
            now - std::chrono::hours(24 * 100) - *kiwi::build_id_time(old_id))
            .count() == 0);
}
