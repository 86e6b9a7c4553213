#include "common/queue/job_queue.hpp"

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/queue/lua_scripts.hpp"  // generated from lua/*.lua
#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

// Shared by every script. Keys are built from P (keys::prefix, hash tag {q}): every key lives
// in one Redis Cluster slot. The scheduler's per-service keys are named at run time (the claim
// script learns the services from the ring), which Redis allows for keys of the script's slot.
std::string prelude() {
  return "local P = '" + std::string(keys::prefix) + "'\n" + std::string(lua::prelude);
}

lua_script make_script(std::string_view body) { return lua_script(prelude() + std::string(body)); }

const lua_script enqueue_script = make_script(lua::enqueue);  // lua/enqueue.lua

const lua_script claim_script = make_script(lua::claim);  // lua/claim.lua

const lua_script heartbeat_script = make_script(lua::heartbeat);  // lua/heartbeat.lua

const lua_script record_script = make_script(lua::record);  // lua/record.lua

const lua_script finish_script = make_script(lua::finish);  // lua/finish.lua

const lua_script release_script = make_script(lua::release);  // lua/release.lua

const lua_script cancel_script = make_script(lua::cancel);  // lua/cancel.lua

const lua_script requeue_dead_script = make_script(lua::requeue_dead);  // lua/requeue_dead.lua

std::string now_millis_text() {
  return std::to_string(unix_millis(std::chrono::system_clock::now()));
}

void append_fields(std::vector<std::string>& args, const field_list& fields) {
  args.reserve(args.size() + 2 * fields.size());
  for (const auto& [f, v] : fields) {
    args.push_back(f);
    args.push_back(v);
  }
}

}  // namespace

std::string queue_script_prelude() { return prelude(); }

std::string_view to_string(job_outcome o) {
  switch (o) {
    case job_outcome::succeeded: return "succeeded";
    case job_outcome::failed: return "failed";
    case job_outcome::cancelled: return "cancelled";
    case job_outcome::superseded: return "superseded";
    case job_outcome::retry: return "retry";
    case job_outcome::dead_letter: return "dead_letter";
  }
  return "failed";
}

const std::string* claimed_job::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

std::string claimed_job::field_or(std::string_view name, std::string fallback) const {
  const std::string* v = field(name);
  if (v != nullptr) {
    return *v;
  }
  return fallback;  // moved (std::move inside ?: copied it: performance-move-const-arg)
}

asio::awaitable<std::pair<boost::system::error_code, enqueue_outcome>> job_queue::enqueue(
    const enqueue_request& request) {
  const bool replay_guard = !request.replay_digest.empty() && request.replay_window.count() > 0;
  std::vector<std::string> k{keys::delivery(request.provider, request.delivery_id),
                             keys::build(request.build_id), keys::service_builds(request.service),
                             keys::build_numbers(),
                             keys::replay(request.service, request.replay_digest)};
  std::vector<std::string> a{request.build_id,
                             std::to_string(delivery_ttl.count()),
                             request.service,
                             std::to_string(unix_millis(request.queued_event.ts)),
                             event_json_prefix(request.queued_event),
                             request.queued_event.ref,
                             request.cancel_superseded ? "1" : "0",
                             replay_guard ? std::to_string(request.replay_window.count()) : "0",
                             format_timestamp(request.queued_event.ts)};
  append_fields(a, request.fields);
  auto r = co_await redis_.eval(enqueue_script, k, a, timeout_);
  enqueue_outcome out;
  if (!r) {
    co_return std::pair{r.ec, out};
  }
  const auto& e = r.value.elements;
  if (r.value.type != redis_value::kind::array || e.size() < 4) {
    co_return std::pair{make_error_code(redis_errc::server_error), out};
  }
  out.created = e[0].integer == 1;
  out.build_id = e[1].as_string().value_or("");
  out.number = e[2].integer;
  out.superseded = e[3].integer;
  co_return std::pair{boost::system::error_code{}, out};
}

std::vector<claimed_job> decode_claims(const redis_value& reply) {
  std::vector<claimed_job> jobs;
  for (const auto& entry : reply.elements) {
    if (entry.elements.size() < 3) {
      continue;
    }
    claimed_job job;
    job.build_id = entry.elements[0].str;
    job.lease = entry.elements[1].as_string().value_or("");
    const auto& kv = entry.elements[2].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
      job.fields.emplace_back(kv[i].str, kv[i + 1].str);
    }
    job.stage_started = entry.elements.size() > 3 && entry.elements[3].integer == 1;
    if (const std::string* a = job.field("attempts")) {
      job.attempts = static_cast<unsigned>(std::strtoul(a->c_str(), nullptr, 10));
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

namespace {

// A claim's arguments; without `now`, the claim script reads Redis' clock (for a claim that
// runs later than it is sent).
std::vector<std::string> claim_args(const std::string& worker, unsigned max,
                                    std::chrono::milliseconds lease_for, unsigned max_attempts,
                                    std::optional<std::chrono::system_clock::time_point> now) {
  return {worker,
          now ? std::to_string(unix_millis(*now)) : "",
          std::to_string(lease_for.count()),
          std::to_string(max),
          now ? format_timestamp(*now) : "",
          std::to_string(max_attempts)};
}

}  // namespace

asio::awaitable<std::pair<boost::system::error_code, std::vector<claimed_job>>> job_queue::claim(
    const std::string& worker, unsigned max, std::chrono::milliseconds lease_for,
    unsigned max_attempts) {
  std::vector<std::string> k{keys::ready()};
  std::vector<std::string> a =
      claim_args(worker, max, lease_for, max_attempts, std::chrono::system_clock::now());
  auto r = co_await redis_.eval(claim_script, k, a, timeout_);
  if (!r) {
    co_return std::pair{r.ec, std::vector<claimed_job>{}};
  }
  co_return std::pair{boost::system::error_code{}, decode_claims(r.value)};
}

asio::awaitable<std::pair<boost::system::error_code, std::vector<claimed_job>>>
job_queue::wait_and_claim(const std::string& worker, unsigned max,
                          std::chrono::milliseconds lease_for, unsigned max_attempts,
                          std::chrono::milliseconds at_most) {
  // BLPOP's timeout is in seconds (fractions allowed since Redis 6). The claim runs up to
  // at_most after it is sent: it reads Redis' clock rather than carrying this one's.
  const std::string seconds = std::to_string(static_cast<double>(at_most.count()) / 1000.0);
  std::vector<std::string> k{keys::ready()};
  std::vector<std::string> a = claim_args(worker, max, lease_for, max_attempts, std::nullopt);
  auto [woken, claimed] = co_await redis_.command_then_eval(
      redis_args("BLPOP", keys::wake(), seconds), at_most + timeout_, claim_script, k, a,
      timeout_);
  if (!claimed) {
    co_return std::pair{claimed.ec, std::vector<claimed_job>{}};
  }
  co_return std::pair{boost::system::error_code{}, decode_claims(claimed.value)};
}

asio::awaitable<std::pair<boost::system::error_code, std::vector<lease_notice>>>
job_queue::heartbeat(const std::vector<held_lease>& held, std::chrono::milliseconds lease_for) {
  std::vector<lease_notice> notices;
  if (held.empty()) {
    co_return std::pair{boost::system::error_code{}, notices};
  }
  std::vector<std::string> k{keys::leases()};
  std::vector<std::string> a{now_millis_text(), std::to_string(lease_for.count())};
  for (const auto& h : held) {
    a.push_back(h.build_id);
    a.push_back(h.lease);
  }
  auto r = co_await redis_.eval(heartbeat_script, k, a, timeout_);
  if (!r) {
    co_return std::pair{r.ec, notices};
  }
  for (const auto& e : r.value.elements) {
    if (e.elements.size() == 3) {
      notices.push_back(
          lease_notice{e.elements[0].str, e.elements[1].str == "lost", e.elements[2].str});
    }
  }
  co_return std::pair{boost::system::error_code{}, notices};
}

asio::awaitable<std::pair<boost::system::error_code, bool>> job_queue::record(
    const build_event& event, const field_list& build_fields, const std::string& lease) {
  std::vector<std::string> k{keys::build(event.build_id)};
  std::vector<std::string> a{event.build_id, event.service, lease, event_json_prefix(event)};
  append_fields(a, build_fields);
  auto r = co_await redis_.eval(record_script, k, a, timeout_);
  co_return std::pair{r.ec, !r.ec && r.value.integer >= 0};
}

void job_queue::record_detached(const build_event& event) {
  // EVALSHA: the job's earlier attached record() loaded the script. Should Redis have restarted
  // since, this line is refused (NOSCRIPT) and lost like any detached write to a down Redis.
  redis_.send_detached({"EVALSHA", record_script.sha1, "1", keys::build(event.build_id),
                        event.build_id, event.service, "", event_json_prefix(event)});
}

// A finish waiting for its round trip. It lives in the frame of the finish() call that waits
// for it; the flusher fills in the answer and wakes it.
struct pending_finish {
  const claimed_job* job;
  const job_result* result;
  const next_claim* next;
  asio::steady_timer* wake;
  bool done = false;
  boost::system::error_code ec;
  finish_outcome out;
};

struct job_queue::finish_batcher {
  // Up to eight scripts in flight: Redis always has the next batch queued while the worker
  // reads an answer and starts the builds it claimed (with two, batches alternated between 48
  // builds and one in bench/queue_throughput, and Redis waited while the worker started 48).
  static constexpr int max_flushing = 8;
  std::vector<pending_finish*> pending;
  int flushing = 0;
};

job_queue::job_queue(redis_client& redis, std::chrono::milliseconds timeout)
    : redis_(redis), timeout_(timeout), finishes_(std::make_shared<finish_batcher>()) {}

asio::awaitable<std::pair<boost::system::error_code, finish_outcome>> job_queue::finish(
    const claimed_job& job, const job_result& result, const next_claim& next) {
  asio::steady_timer wake(co_await asio::this_coro::executor,
                          std::chrono::steady_clock::time_point::max());
  pending_finish me{&job, &result, &next, &wake, false, {}, {}};
  finishes_->pending.push_back(&me);
  if (finishes_->flushing < finish_batcher::max_flushing) {
    ++finishes_->flushing;
    asio::co_spawn(wake.get_executor(), flush_finishes(finishes_), asio::detached);
  }
  while (!me.done) {
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return std::pair{me.ec, std::move(me.out)};
}

// Sends what is pending, a batch per round trip, until nothing is. Builds whose next_claim
// differs from the first one's (another worker name or lease) wait for a later batch.
asio::awaitable<void> job_queue::flush_finishes(std::shared_ptr<finish_batcher> batcher) {
  while (!batcher->pending.empty()) {
    std::vector<pending_finish*> batch;
    std::vector<pending_finish*> later;
    const next_claim& first = *batcher->pending.front()->next;
    for (pending_finish* p : batcher->pending) {
      const bool same = p->next->worker == first.worker && p->next->lease_for == first.lease_for &&
                        p->next->max_attempts == first.max_attempts;
      (same && batch.size() < max_finish_batch ? batch : later).push_back(p);
    }
    batcher->pending = std::move(later);

    auto now = std::chrono::system_clock::now();
    unsigned want = 0;
    std::vector<std::string> k;
    std::vector<std::string> a{std::to_string(unix_millis(now)), format_timestamp(now), "",
                               first.worker, std::to_string(first.lease_for.count()),
                               std::to_string(first.max_attempts)};
    for (pending_finish* p : batch) {
      const job_result& r = *p->result;
      want += p->next->max;
      k.push_back(keys::build(p->job->build_id));
      a.push_back(p->job->build_id);
      a.push_back(p->job->lease);
      a.emplace_back(to_string(r.outcome));
      a.push_back(r.stage_event ? event_json_prefix(*r.stage_event) : "");
      a.push_back(event_json_prefix(r.final_event));
      a.push_back(r.error);
      a.push_back(std::to_string(unix_millis(r.retry_at)));
      a.push_back(std::to_string(2 * r.fields.size()));
      append_fields(a, r.fields);
    }
    a[2] = std::to_string(want);
    redis_result r;
    try {
      r = co_await redis_.eval(finish_script, k, a, timeout_);
    } catch (const std::exception&) {  // out of memory: no waiter may be left hanging
      r.ec = make_error_code(redis_errc::server_error);
    }
    boost::system::error_code ec = r.ec;
    const auto& e = r.value.elements;
    if (!ec && (r.value.type != redis_value::kind::array || e.size() != 2 ||
                e[0].elements.size() != batch.size())) {
      ec = make_error_code(redis_errc::server_error);
    }
    std::vector<claimed_job> claimed;
    if (!ec) {
      claimed = decode_claims(e[1]);
    }
    // The claims go to the builds that asked for a successor, in order.
    std::size_t next_claimed = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      pending_finish& p = *batch[i];
      p.ec = ec;
      if (!ec) {
        p.out.held = e[0].elements[i].integer == 1;
        for (unsigned n = 0; n < p.next->max && next_claimed < claimed.size(); ++n) {
          p.out.next.push_back(std::move(claimed[next_claimed++]));
        }
      }
      p.done = true;
      p.wake->cancel();
    }
  }
  --batcher->flushing;
}

asio::awaitable<std::pair<boost::system::error_code, bool>> job_queue::release(
    const claimed_job& job, const std::string& message) {
  std::vector<std::string> k{keys::build(job.build_id)};
  std::vector<std::string> a{job.build_id, job.lease,
                             format_timestamp(std::chrono::system_clock::now()), message};
  auto r = co_await redis_.eval(release_script, k, a, timeout_);
  co_return std::pair{r.ec, !r.ec && r.value.integer == 1};
}

asio::awaitable<std::pair<boost::system::error_code, std::string>> job_queue::cancel(
    const std::string& build_id, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> k{keys::build(build_id)};
  std::vector<std::string> a{build_id, std::to_string(unix_millis(now)), format_timestamp(now),
                             message};
  auto r = co_await redis_.eval(cancel_script, k, a, timeout_);
  co_return std::pair{r.ec, r.value.as_string().value_or("")};
}

asio::awaitable<std::pair<boost::system::error_code, std::string>> job_queue::requeue_dead(
    const std::string& entry_id, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> k{keys::dead_letters()};
  std::vector<std::string> a{entry_id, std::to_string(unix_millis(now)), format_timestamp(now),
                             message};
  auto r = co_await redis_.eval(requeue_dead_script, k, a, timeout_);
  co_return std::pair{r.ec, r.value.as_string().value_or("")};
}

asio::awaitable<boost::system::error_code> job_queue::set_service_limits(
    const std::vector<std::pair<std::string, unsigned>>& limits) {
  for (const auto& [service, max] : limits) {
    auto r = co_await redis_.command(
        redis_args("HSET", keys::service_settings(service), "max", std::to_string(max)), timeout_);
    if (!r) {
      co_return r.ec;
    }
  }
  co_return boost::system::error_code{};
}

asio::awaitable<std::pair<boost::system::error_code, field_list>> job_queue::build_record(
    const std::string& build_id) {
  auto r = co_await redis_.command(redis_args("HGETALL", keys::build(build_id)), timeout_);
  field_list fields;
  if (!r) {
    co_return std::pair{r.ec, fields};
  }
  for (std::size_t i = 0; i + 1 < r.value.elements.size(); i += 2) {
    fields.emplace_back(r.value.elements[i].str, r.value.elements[i + 1].str);
  }
  co_return std::pair{boost::system::error_code{}, fields};
}

}  // namespace kiwi
