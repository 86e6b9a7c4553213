#pragma once
// The job queue on a private redis-server, stepped one call at a time (queue_test.cpp,
// retention_test.cpp).

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/queue/build_id.hpp"
#include "common/queue/job_queue.hpp"
#include "common/redis/redis_keys.hpp"
#include "redis_server.hpp"

namespace kiwi::test {

// The queue on a private Redis, stepped one call at a time.
struct queue_fixture : kiwi::test::redis_fixture {
  kiwi::job_queue queue{redis, 2s};

  std::string field(const std::string& id, const std::string& name) {
    return command(kiwi::redis_args("HGET", kiwi::keys::build(id), name)).str;
  }

  std::string enqueue(const std::string& service, const std::string& ref, unsigned max = 1,
                      bool cancel_superseded = true,
                      std::chrono::system_clock::time_point queued_at =
                          std::chrono::system_clock::now()) {
    kiwi::enqueue_request r;
    r.build_id = kiwi::new_build_id();
    r.provider = "test";
    r.delivery_id = r.build_id;
    r.service = service;
    r.max_concurrent_builds = max;
    r.cancel_superseded = cancel_superseded;
    r.fields = {{"service", service}, {"kind", "noop"}, {"ref", ref}, {"sha", ""}};
    std::vector<std::pair<std::string, unsigned>> limits{{service, max}};
    REQUIRE(!run(queue.set_service_limits(limits)));
    r.queued_event.build_id = r.build_id;
    r.queued_event.service = service;
    r.queued_event.ref = ref;
    r.queued_event.status = "queued";
    r.queued_event.ts = queued_at;
    auto [ec, out] = run(queue.enqueue(r));
    REQUIRE(!ec);
    REQUIRE(out.created);
    return r.build_id;
  }

  std::vector<kiwi::claimed_job> claim(unsigned max, std::chrono::milliseconds lease = 60s,
                                       unsigned max_attempts = 3) {
    auto [ec, jobs] = run(queue.claim("w1", max, lease, max_attempts));
    REQUIRE(!ec);
    return jobs;
  }

  kiwi::finish_outcome finish(const kiwi::claimed_job& job, kiwi::job_outcome outcome,
                              std::chrono::system_clock::time_point retry_at = {},
                              unsigned next_max = 0) {
    kiwi::job_result r;
    r.outcome = outcome;
    r.final_event.build_id = job.build_id;
    r.final_event.service = job.field_or("service");
    r.retry_at = retry_at;
    r.error = outcome == kiwi::job_outcome::succeeded ? "" : "it broke";
    kiwi::next_claim next{"w1", next_max, 60s, 3};
    auto [ec, out] = run(queue.finish(job, r, next));
    REQUIRE(!ec);
    return out;
  }
};

inline std::vector<std::string> ids(const std::vector<kiwi::claimed_job>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs) out.push_back(j.build_id);
  return out;
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace kiwi::test
