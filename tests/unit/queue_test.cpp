// The scheduler's decisions, stepped by hand: the retry policy as plain functions, and the Lua
// scheduler (round robin, per-service limits, latest push wins, leases, retries, hand-back,
// cancel) through job_queue against a real redis-server on a private unix socket.

#include <doctest/doctest.h>

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <nlohmann/json.hpp>

#include "common/queue/build_id.hpp"
#include "common/queue/job_queue.hpp"
#include "common/redis/redis_keys.hpp"
#include "git_servers.hpp"
#include "queue_fixture.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using kiwi::test::temp_dir;
using kiwi::test::ids;
using kiwi::test::queue_fixture;
using kiwi::test::sleep_ms;

TEST_CASE("claims take services round-robin, one build per visit") {
  queue_fixture f;
  auto a1 = f.enqueue("a", "refs/heads/a1", 4);
  auto a2 = f.enqueue("a", "refs/heads/a2", 4);
  auto a3 = f.enqueue("a", "refs/heads/a3", 4);
  auto b1 = f.enqueue("b", "refs/heads/b1", 4);
  auto c1 = f.enqueue("c", "refs/heads/c1", 4);
  // One at a time: a, b, c, then a's rest.
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    auto got = f.claim(1);
    REQUIRE(got.size() == 1);
    order.push_back(got[0].build_id);
  }
  CHECK(order == std::vector<std::string>{a1, b1, c1, a2, a3});
  CHECK(f.claim(1).empty());
  CHECK(f.field(a1, "status") == "running");
  CHECK(f.field(a1, "lease") == "1");
}

TEST_CASE("a service at max_concurrent_builds waits without holding a worker slot") {
  queue_fixture f;
  auto a1 = f.enqueue("a", "refs/heads/x", 1, false);
  auto a2 = f.enqueue("a", "refs/heads/x", 1, false);
  auto b1 = f.enqueue("b", "refs/heads/y", 1, false);
  auto first = f.claim(3);
  CHECK(ids(first) == std::vector<std::string>{a1, b1});  // a2 waits: a runs a1
  CHECK(f.claim(3).empty());
  // a1 ends and hands its worker the next claimable build in the same call: a2.
  auto done = f.finish(first[0], kiwi::job_outcome::succeeded, {}, 1);
  CHECK(done.held);
  CHECK(ids(done.next) == std::vector<std::string>{a2});
  CHECK(f.field(a1, "status") == "succeeded");
  auto outcomes = f.command(kiwi::redis_args("HGET", kiwi::keys::job_outcomes(), "succeeded"));
  CHECK(outcomes.str == "1");
}

TEST_CASE("a newer push to the same ref supersedes queued builds and flags a running one") {
  queue_fixture f;
  auto x1 = f.enqueue("a", "refs/heads/main");
  auto running = f.claim(1);
  REQUIRE(ids(running) == std::vector<std::string>{x1});
  auto x2 = f.enqueue("a", "refs/heads/main");
  auto other = f.enqueue("a", "refs/heads/dev");
  auto x3 = f.enqueue("a", "refs/heads/main");
  CHECK(f.field(x2, "status") == "superseded");         // queued: ended at once
  CHECK(f.field(other, "status") == "queued");          // another ref: untouched
  CHECK(f.field(x1, "status") == "running");            // running: asked to stop
  CHECK(f.field(x1, "cancel") == "superseded");
  auto notices = f.run(f.queue.heartbeat({{x1, running[0].lease}}, 60s));
  REQUIRE(!notices.first);
  REQUIRE(notices.second.size() == 1);
  CHECK(notices.second[0].reason == "superseded");
  CHECK_FALSE(notices.second[0].lost);
  auto done = f.finish(running[0], kiwi::job_outcome::superseded, {}, 5);
  CHECK(f.field(x1, "status") == "superseded");
  CHECK(ids(done.next) == std::vector<std::string>{other});  // limit 1: one at a time
  CHECK(f.field(x3, "status") == "queued");
  // The superseded build's event log ends with build.superseded.
  auto events = f.command(kiwi::redis_args("XREVRANGE", kiwi::keys::build_events(x2), "+", "-",
                                           "COUNT", "1"));
  REQUIRE(events.elements.size() == 1);
  CHECK(events.elements[0].elements[1].elements[3].str.find("\"type\":\"build.superseded\"") !=
        std::string::npos);
}

TEST_CASE("cancel_superseded false keeps every push") {
  queue_fixture f;
  auto x1 = f.enqueue("a", "refs/heads/main", 1, false);
  auto x2 = f.enqueue("a", "refs/heads/main", 1, false);
  CHECK(f.field(x1, "status") == "queued");
  CHECK(f.field(x2, "status") == "queued");
}

TEST_CASE("an expired lease is reclaimed, fenced, and dead-lettered after max_attempts") {
  queue_fixture f;
  auto id = f.enqueue("a", "refs/heads/main");
  auto first = f.claim(1, 20ms, 2);
  REQUIRE(first.size() == 1);
  sleep_ms(40);
  // The next claim finds the lease expired: the build is requeued at the front and claimed
  // again, with a new lease and one attempt used.
  auto second = f.claim(1, 20ms, 2);
  REQUIRE(ids(second) == std::vector<std::string>{id});
  CHECK(second[0].lease == "2");
  CHECK(second[0].attempts == 1);
  // The first worker's late outcome is refused: its lease is gone.
  auto stale = f.finish(first[0], kiwi::job_outcome::succeeded);
  CHECK_FALSE(stale.held);
  CHECK(f.field(id, "status") == "running");
  kiwi::build_event late;
  late.build_id = id;
  late.service = "a";
  auto [record_ec, recorded] = f.run(f.queue.record(late, {}, first[0].lease));
  CHECK(!record_ec);
  CHECK_FALSE(recorded);
  // Expiring again reaches max_attempts (2): dead letter with the reason and attempt count.
  sleep_ms(40);
  CHECK(f.claim(1, 20ms, 2).empty());
  CHECK(f.field(id, "status") == "failed");
  CHECK(f.field(id, "dead_letter") == "1");
  auto dead = f.command(kiwi::redis_args("XRANGE", kiwi::keys::dead_letters(), "-", "+"));
  REQUIRE(dead.elements.size() == 1);
  const auto& kv = dead.elements[0].elements[1].elements;
  CHECK(kv[1].str == id);
  CHECK(kv[5].str.find("stopped responding") != std::string::npos);
  CHECK(kv[7].str == "2");
  CHECK(f.command(kiwi::redis_args("ZCARD", kiwi::keys::leases())).integer == 0);
}

TEST_CASE("a retry waits in the delayed set, not in a worker slot, until it is due") {
  queue_fixture f;
  auto id = f.enqueue("a", "refs/heads/main");
  auto job = f.claim(1);
  REQUIRE(job.size() == 1);
  // Due in 1.5 s: long enough that the checks below run before it even under ASan on a busy
  // machine; then it is claimable within a bounded wait.
  auto done = f.finish(job[0], kiwi::job_outcome::retry,
                       std::chrono::system_clock::now() + 1500ms);
  CHECK(done.held);
  CHECK(f.field(id, "status") == "retrying");
  CHECK(f.field(id, "attempts") == "1");
  CHECK(f.claim(1).empty());
  CHECK(f.command(kiwi::redis_args("SCARD", kiwi::keys::service_active("a"))).integer == 0);
  std::vector<kiwi::claimed_job> again;
  for (int i = 0; i < 200 && again.empty(); ++i) {  // at most ~10 s
    sleep_ms(50);
    again = f.claim(1);
  }
  REQUIRE(ids(again) == std::vector<std::string>{id});
  CHECK(again[0].attempts == 1);
}

TEST_CASE("a handed-back build goes to the front of its queue without using an attempt") {
  queue_fixture f;
  auto a1 = f.enqueue("a", "refs/heads/1", 4);
  auto a2 = f.enqueue("a", "refs/heads/2", 4);
  auto job = f.claim(1);
  REQUIRE(ids(job) == std::vector<std::string>{a1});
  auto [ec, held] = f.run(f.queue.release(job[0], "handed back on shutdown"));
  CHECK(!ec);
  CHECK(held);
  auto next = f.claim(1);
  REQUIRE(ids(next) == std::vector<std::string>{a1});
  CHECK(next[0].attempts == 0);
  CHECK(f.field(a2, "status") == "queued");
}

TEST_CASE("cancel ends a queued build at once and flags a running one") {
  queue_fixture f;
  auto run1 = f.enqueue("a", "refs/heads/1", 4);
  auto wait1 = f.enqueue("b", "refs/heads/1", 4);
  auto job = f.claim(1);
  REQUIRE(ids(job) == std::vector<std::string>{run1});
  const std::string why = "stop it";
  CHECK(f.run(f.queue.cancel(wait1, why)).second == "cancelled");
  CHECK(f.field(wait1, "status") == "cancelled");
  CHECK(f.command(kiwi::redis_args("LLEN", kiwi::keys::service_waiting("b"))).integer == 0);
  CHECK(f.run(f.queue.cancel(run1, why)).second == "cancelling");
  auto notices = f.run(f.queue.heartbeat({{run1, job[0].lease}}, 60s));
  REQUIRE(notices.second.size() == 1);
  CHECK(notices.second[0].reason == "cancelled");
  f.finish(job[0], kiwi::job_outcome::cancelled);
  CHECK(f.field(run1, "status") == "cancelled");
  CHECK(f.run(f.queue.cancel(run1, why)).second == "ended:cancelled");  // already ended
  const std::string missing = "no-such-build";
  CHECK(f.run(f.queue.cancel(missing, why)).second == "not_found");
}

TEST_CASE("a build superseded while its last stage ran does not end succeeded") {
  queue_fixture f;
  auto x1 = f.enqueue("a", "refs/heads/main");
  auto running = f.claim(1);
  REQUIRE(ids(running) == std::vector<std::string>{x1});
  auto x2 = f.enqueue("a", "refs/heads/main");
  // The worker has not heard of the request yet and reports success.
  auto done = f.finish(running[0], kiwi::job_outcome::succeeded);
  CHECK(done.held);
  CHECK(f.field(x1, "status") == "superseded");
  CHECK(f.field(x2, "status") == "queued");
  auto outcomes = f.command(kiwi::redis_args("HGETALL", kiwi::keys::job_outcomes()));
  std::string flat;
  for (const auto& e : outcomes.elements) flat += e.str + " ";
  CHECK(flat.find("superseded 1") != std::string::npos);
  CHECK(flat.find("succeeded") == std::string::npos);
}

TEST_CASE("a dead letter can be requeued once, with its attempts reset") {
  queue_fixture f;
  auto id = f.enqueue("a", "refs/heads/main");
  auto job = f.claim(1, 60s, 1);
  REQUIRE(job.size() == 1);
  f.finish(job[0], kiwi::job_outcome::dead_letter);
  CHECK(f.field(id, "status") == "failed");
  auto dead = f.command(kiwi::redis_args("XRANGE", kiwi::keys::dead_letters(), "-", "+"));
  REQUIRE(dead.elements.size() == 1);
  const std::string entry = dead.elements[0].elements[0].str;
  const std::string why = "try again";
  CHECK(f.run(f.queue.requeue_dead(entry, why)).second == id);
  CHECK(f.field(id, "status") == "queued");
  CHECK(f.field(id, "attempts") == "0");
  CHECK(f.command(kiwi::redis_args("XLEN", kiwi::keys::dead_letters())).integer == 0);
  CHECK(f.run(f.queue.requeue_dead(entry, why)).second.empty());  // once
  auto again = f.claim(1);
  REQUIRE(ids(again) == std::vector<std::string>{id});
}

TEST_CASE("finishes that arrive together share one round trip, each with its own answer") {
  queue_fixture f;
  constexpr std::size_t builds = 12;
  std::vector<std::string> queued;
  for (std::size_t i = 0; i < builds + 2; ++i) {
    queued.push_back(f.enqueue("a", "refs/heads/b" + std::to_string(i), 20, false));
  }
  auto jobs = f.claim(builds);
  REQUIRE(jobs.size() == builds);
  // The first eight finishes go out at once (eight scripts in flight); the four that arrive
  // while they are in flight share the ninth. Among those four: one whose lease is gone, which
  // must write nothing, and one that fails.
  constexpr std::size_t stale = 9;
  constexpr std::size_t failing = 10;
  jobs[stale].lease = "999";
  std::vector<kiwi::job_outcome> outcomes(builds, kiwi::job_outcome::succeeded);
  outcomes[failing] = kiwi::job_outcome::failed;
  auto evalsha_calls = [&] {
    auto info = f.command(kiwi::redis_args("INFO", "commandstats")).str;
    auto at = info.find("cmdstat_evalsha:calls=");
    return at == std::string::npos ? 0L : std::stol(info.substr(at + 22));
  };
  const long scripts_before = evalsha_calls();

  std::vector<kiwi::job_result> results(builds);
  std::vector<std::optional<kiwi::finish_outcome>> answers(builds);
  const kiwi::next_claim next{"w1", 1, 60s, 3};
  for (std::size_t i = 0; i < builds; ++i) {
    results[i].outcome = outcomes[i];
    results[i].final_event.build_id = jobs[i].build_id;
    results[i].final_event.service = "a";
    results[i].fields = {{"note", "n" + std::to_string(i)}};
    asio::co_spawn(f.io, f.queue.finish(jobs[i], results[i], next),
                   [&answers, i](std::exception_ptr, auto r) {
                     REQUIRE(!r.first);
                     answers[i] = std::move(r.second);
                   });
  }
  auto all_answered = [&] {
    return std::all_of(answers.begin(), answers.end(), [](const auto& a) { return a.has_value(); });
  };
  for (int i = 0; i < 300 && !all_answered(); ++i) {
    f.io.run_for(10ms);
  }
  REQUIRE(all_answered());
  CHECK(evalsha_calls() - scripts_before == 9);  // 12 builds ended in 9 round trips

  for (std::size_t i = 0; i < builds; ++i) {
    CAPTURE(i);
    CHECK(answers[i]->held == (i != stale));
    CHECK(f.field(jobs[i].build_id, "status") ==
          (i == stale ? "running" : i == failing ? "failed" : "succeeded"));
    CHECK(f.field(jobs[i].build_id, "note") == (i == stale ? "" : "n" + std::to_string(i)));
  }
  // The two builds still queued go, in order, to the first finishes that asked for a successor.
  std::vector<std::string> handed;
  for (const auto& a : answers) {
    CHECK(a->next.size() <= 1);
    for (const auto& n : a->next) {
      handed.push_back(n.build_id);
      CHECK(n.field_or("status") == "running");
      CHECK(n.field_or("worker") == "w1");
    }
  }
  CHECK(handed == std::vector<std::string>{queued[builds], queued[builds + 1]});
  CHECK(answers[0]->next.size() == 1);
  CHECK(answers[1]->next.size() == 1);
  // Counted once per outcome; the event numbers carry on from the record's seq.
  CHECK(f.command(kiwi::redis_args("HGET", kiwi::keys::job_outcomes(), "succeeded")).str == "10");
  CHECK(f.command(kiwi::redis_args("HGET", kiwi::keys::job_outcomes(), "failed")).str == "1");
  CHECK(f.field(jobs[0].build_id, "seq") == "2");
  auto events = f.command(
      kiwi::redis_args("XRANGE", kiwi::keys::build_events(jobs[0].build_id), "-", "+"));
  REQUIRE(events.elements.size() == 2);
  CHECK(events.elements[1].elements[1].elements[1].str == "2");  // seq field of the entry
  // The ended builds gave back their service slots: 3 run now (the stale one and the two next).
  CHECK(f.command(kiwi::redis_args("SCARD", kiwi::keys::service_active("a"))).integer == 3);
}

TEST_CASE("an idle worker's claim runs right behind its wake-up, on Redis' clock") {
  queue_fixture f;
  kiwi::redis_client other{f.io.get_executor(), f.server.endpoint(), "enqueuer"};
  other.start();
  for (int i = 0; i < 300 && !other.connected(); ++i) {
    f.io.run_for(10ms);
  }
  REQUIRE(other.connected());

  const std::string worker = "w1";  // outlives the coroutines that take it by reference
  // Nothing queued: the wait ends after at_most with nothing claimed and no error.
  auto [idle_ec, idle] = f.run(f.queue.wait_and_claim(worker, 2, 60s, 3, 200ms));
  CHECK(!idle_ec);
  CHECK(idle.empty());

  std::optional<std::vector<kiwi::claimed_job>> woken;
  asio::co_spawn(f.io, f.queue.wait_and_claim(worker, 2, 60s, 3, 5s),
                 [&woken](std::exception_ptr, auto r) {
                   REQUIRE(!r.first);
                   woken = std::move(r.second);
                 });
  f.io.run_for(50ms);  // the BLPOP is blocking now
  REQUIRE(!woken);
  // Another process enqueues a build whose first stage starts with its claim.
  kiwi::job_queue enqueuer{other, 2s};
  std::vector<std::pair<std::string, unsigned>> limits{{"a", 1}};
  REQUIRE(!f.run(enqueuer.set_service_limits(limits)));
  kiwi::enqueue_request r;
  r.build_id = kiwi::new_build_id();
  r.provider = "test";
  r.delivery_id = r.build_id;
  r.service = "a";
  r.fields = {{"service", "a"}, {"kind", "noop"}, {"ref", "refs/heads/main"}, {"sha", "abc"},
              {"first_stage", "noop"}, {"first_message", "no-op stage"}};
  r.queued_event.build_id = r.build_id;
  r.queued_event.service = "a";
  r.queued_event.ref = "refs/heads/main";
  r.queued_event.status = "queued";
  const auto before = std::chrono::system_clock::now();
  REQUIRE(!f.run(enqueuer.enqueue(r)).first);
  for (int i = 0; i < 300 && !woken; ++i) {
    f.io.run_for(10ms);
  }
  REQUIRE(woken);
  REQUIRE(woken->size() == 1);
  const kiwi::claimed_job& job = woken->front();
  CHECK(job.build_id == r.build_id);
  CHECK(job.stage_started);
  CHECK(job.field_or("status") == "running");
  CHECK(job.field_or("lease") == "1");
  // The claim's time is Redis' clock when it ran, not when the worker sent it.
  const long long claimed_at = std::stoll(job.field_or("claimed_at", "0"));
  CHECK(claimed_at >= kiwi::unix_millis(before) - 1000);
  CHECK(claimed_at <= kiwi::unix_millis(std::chrono::system_clock::now()) + 1000);
  auto lease_until =
      f.command(kiwi::redis_args("ZSCORE", kiwi::keys::leases(), r.build_id)).str;
  CHECK(std::stoll(lease_until) == claimed_at + 60000);
  // Its stage.started event carries that time, written as every other event's ts.
  auto events = f.command(kiwi::redis_args("XRANGE", kiwi::keys::build_events(r.build_id), "-", "+"));
  REQUIRE(events.elements.size() == 2);
  auto started = nlohmann::json::parse(events.elements[1].elements[1].elements[3].str);
  CHECK(started["type"] == "stage.started");
  CHECK(started["seq"] == 2);
  CHECK(started["ts"] == kiwi::format_timestamp(std::chrono::system_clock::time_point(
                             std::chrono::milliseconds(claimed_at))));
  other.stop();
}

TEST_CASE("claims on Redis' clock write timestamps as format_timestamp does, leap days too") {
  kiwi::test::redis_fixture f;
  // The Lua helper the claim uses when it reads Redis' TIME, run on its own.
  const kiwi::lua_script script(kiwi::queue_script_prelude() +
                                "return iso_time(tonumber(ARGV[1]))");
  const std::vector<std::string> no_keys;
  for (long long ms : {0LL, 951782400000LL, 1709164800000LL, 1709251199999LL, 1735689599999LL,
                       4102444800000LL, 1795952545209LL}) {
    CAPTURE(ms);
    const std::vector<std::string> args{std::to_string(ms)};
    auto r = f.run(f.redis.eval(script, no_keys, args, 2s));
    REQUIRE(!r.ec);
    CHECK(r.value.str == kiwi::format_timestamp(std::chrono::system_clock::time_point(
                             std::chrono::milliseconds(ms))));
  }
}
