#pragma once
// Kiwi's job queue and build store on Redis (docs/queue.md, docs/redis.md).
//
// Every state change is one Lua script, one round trip, and carries its event:
// - enqueue: delivery dedup + build record + "latest push wins" + the service's waiting list;
// - claim:   reclaims expired leases, promotes due retries, then takes up to N builds from the
//            services in round-robin order, each under its service's max_concurrent_builds,
//            and gives each a lease (a fencing token: the build's `lease` counter);
// - heartbeat: extends the leases of running builds, reports cancellations and lost leases;
// - record / finish / release: fenced by the lease, so a worker that lost its build can no
//   longer write to it.
// A build is never dropped while it lives: it is queued, running (leased), retrying (delayed),
// or ended (succeeded, failed, cancelled, superseded; a failed build that exhausted its
// attempts or could not be decoded is also in the dead-letter stream). Ended builds past the
// retention policy are removed whole (retention.cpp, docs/redis.md#retention).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/config/config.hpp"  // retention_config
#include "common/queue/build_event.hpp"
#include "common/redis/redis_client.hpp"

namespace kiwi {

using field_list = std::vector<std::pair<std::string, std::string>>;

struct enqueue_request {
  std::string build_id;      // new_build_id()
  std::string provider;      // "github", "gitlab", "api", "bench"
  std::string delivery_id;   // redelivery guard key; unique per webhook delivery
  std::string service;
  field_list fields;         // stored in the build record: kind, ref, sha, branch, ...
                             // and first_stage/first_message: the claim starts that stage
  build_event queued_event;  // build.queued; its ref is the "latest push wins" group
  bool cancel_superseded = true;
  unsigned max_concurrent_builds = 1;
  // Replay guard: the same push under a new or missing delivery id within the window answers
  // the original build. The digest names the push: "<after sha>:<hex SHA-256 of the body>"
  // (empty, or a zero window: no guard).
  std::string replay_digest;
  std::chrono::seconds replay_window{0};
};

struct enqueue_outcome {
  bool created = false;    // false: the delivery was seen before
  std::string build_id;    // the new build, or the original one of a redelivery
  long long number = 0;    // per-service build number (new builds only)
  long long superseded = 0;  // older builds of the same ref superseded or asked to cancel
};

// A build as a worker holds it.
struct claimed_job {
  std::string build_id;
  std::string lease;       // fencing token: the build's claim counter when it was claimed
  unsigned attempts = 0;   // tries that already ended in a transient failure or a lost worker
  // The claim already started the first stage (fields first_stage/first_message at enqueue):
  // its stage.started is stored; the worker goes straight to work.
  bool stage_started = false;
  field_list fields;       // the build record
  const std::string* field(std::string_view name) const;
  std::string field_or(std::string_view name, std::string fallback = {}) const;
};

// What became of a build, as the worker reports it to finish().
enum class job_outcome { succeeded, failed, cancelled, superseded, retry, dead_letter };
std::string_view to_string(job_outcome o);

struct job_result {
  job_outcome outcome = job_outcome::succeeded;
  std::optional<build_event> stage_event;  // e.g. stage.succeeded, stored before final_event
  build_event final_event;                 // build.succeeded, build.failed, build.retrying, ...
  field_list fields;                       // build-record fields to set
  std::string error;                       // the reason for failed/dead_letter/retry
  std::chrono::system_clock::time_point retry_at{};  // outcome retry: when it is due
};

// Told by heartbeat(): stop a running build.
struct lease_notice {
  std::string build_id;
  bool lost = false;    // the lease is gone (reclaimed after the visibility timeout, ended)
  std::string reason;   // otherwise: a cancel request, "cancelled" or "superseded"
};

// finish() may claim the worker's next build in the same round trip.
struct next_claim {
  std::string worker;
  unsigned max = 0;  // 0: claim nothing
  std::chrono::milliseconds lease_for{0};
  unsigned max_attempts = 1;
};

struct finish_outcome {
  bool held = false;               // false: the lease was lost; nothing was written
  std::vector<claimed_job> next;   // claimed for the same worker (see next_claim)
};

// What a retention step removed (job_queue::prune, job_queue::sweep_retention).
struct prune_outcome {
  long long removed = 0;   // builds deleted with all their keys
  long long services = 0;  // services looked at
  std::string cursor;      // sweep: where the walk over the services goes on ("0": it ended)
};

struct held_lease {
  std::string build_id;
  std::string lease;
};

class job_queue {
 public:
  job_queue(redis_client& redis, std::chrono::milliseconds timeout);

  static constexpr std::chrono::seconds delivery_ttl{7 * 24 * 3600};

  boost::asio::awaitable<std::pair<boost::system::error_code, enqueue_outcome>> enqueue(
      const enqueue_request& request);

  // Up to `max` builds for `worker`, leased for `lease_for`; builds whose lease expired are
  // requeued (or dead-lettered after max_attempts) and due retries promoted first.
  boost::asio::awaitable<std::pair<boost::system::error_code, std::vector<claimed_job>>> claim(
      const std::string& worker, unsigned max, std::chrono::milliseconds lease_for,
      unsigned max_attempts);

  // Blocks (BLPOP on the wake list) until work may be available or `at_most` passed, then
  // claims as claim() does. The claim is pipelined behind the BLPOP: Redis runs it the moment
  // the wake-up arrives, so a build queued for an idle worker is claimed without a round trip
  // to the worker in between. Use a connection of its own: the block holds it.
  boost::asio::awaitable<std::pair<boost::system::error_code, std::vector<claimed_job>>>
  wait_and_claim(const std::string& worker, unsigned max, std::chrono::milliseconds lease_for,
                 unsigned max_attempts, std::chrono::milliseconds at_most);

  boost::asio::awaitable<std::pair<boost::system::error_code, std::vector<lease_notice>>>
  heartbeat(const std::vector<held_lease>& held, std::chrono::milliseconds lease_for);

  // Stores an event and build-record fields. With a lease, only while the build still holds
  // it: returns false (and writes nothing) when the lease is gone.
  boost::asio::awaitable<std::pair<boost::system::error_code, bool>> record(
      const build_event& event, const field_list& build_fields, const std::string& lease);

  // Writes the event to the connection at once without waiting for the reply: for log lines,
  // which must keep their order relative to what the job records next. Lost if Redis is down.
  void record_detached(const build_event& event);

  // Ends a claimed build (or schedules its retry) and claims up to next.max builds. Not held
  // when the lease was lost meanwhile: another worker owns the build and nothing was written.
  // Finishes that arrive while eight are in flight go together in the next round trip (one
  // script for up to max_finish_batch builds), each with its own answer: a busy worker spends
  // a fraction of a round trip per build. Call from the executor of the queue's connection.
  boost::asio::awaitable<std::pair<boost::system::error_code, finish_outcome>> finish(
      const claimed_job& job, const job_result& result, const next_claim& next);
  static constexpr std::size_t max_finish_batch = 64;

  // Hands a claimed build back to the front of its service's queue (graceful shutdown): it
  // runs again at once elsewhere, without counting as an attempt.
  boost::asio::awaitable<std::pair<boost::system::error_code, bool>> release(
      const claimed_job& job, const std::string& message);

  // Cancels a build: a queued or retrying one ends at once ("cancelled"); a running one is
  // asked to stop ("cancelling"; its worker learns it at the next heartbeat). Returns the
  // resulting state, "ended:<status>" when the build had already ended, or "not_found".
  boost::asio::awaitable<std::pair<boost::system::error_code, std::string>> cancel(
      const std::string& build_id, const std::string& message);

  // Puts a dead-lettered build (by its dead-letter entry id) back at the end of its service's
  // queue with its attempts reset, and removes the entry. Returns the build id, or "" when the
  // entry does not exist (or its build is no longer a dead letter).
  boost::asio::awaitable<std::pair<boost::system::error_code, std::string>> requeue_dead(
      const std::string& entry_id, const std::string& message);

  // Publishes each service's max_concurrent_builds for the claim script (workers do this at
  // start and every 30 s, so a flushed Redis regains them; absent means 1).
  boost::asio::awaitable<boost::system::error_code> set_service_limits(
      const std::vector<std::pair<std::string, unsigned>>& limits);

  // Retention (docs/redis.md#retention). With a policy set, each finish() also prunes the
  // services of the builds it ended, at most prune_batch builds each, in the same script.
  void set_retention(const retention_config& policy) { retention_ = policy; }
  static constexpr unsigned prune_batch = 16;

  // Prunes one service now: at most `limit` builds, the oldest first.
  boost::asio::awaitable<std::pair<boost::system::error_code, prune_outcome>> prune(
      const retention_config& policy, const std::string& service, unsigned limit = prune_batch);

  // One step of the walk over every service that ever had a build (its cursor is kept in
  // Redis and shared by every worker): about `services` services, at most `limit` builds.
  // Workers run a step every 30 s; services that see no new builds age out this way.
  boost::asio::awaitable<std::pair<boost::system::error_code, prune_outcome>> sweep_retention(
      const retention_config& policy, unsigned services = 16, unsigned limit = 128);

  // Keeps a build whatever its age and rank (a deployment revision references it): adds it to
  // its service's protected set; unprotect_build takes it out again.
  boost::asio::awaitable<boost::system::error_code> protect_build(const std::string& service,
                                                                  const std::string& build_id);
  boost::asio::awaitable<boost::system::error_code> unprotect_build(const std::string& service,
                                                                    const std::string& build_id);

  // The full scanner report of a build's image (docs/scan.md), stored by its scan stage before
  // the stage's outcome; scan_report answers nullopt when there is none.
  boost::asio::awaitable<boost::system::error_code> store_scan_report(const std::string& build_id,
                                                                      const std::string& report);
  boost::asio::awaitable<std::pair<boost::system::error_code, std::optional<std::string>>>
  scan_report(const std::string& build_id);

  // Fields of a build record (empty when it does not exist).
  boost::asio::awaitable<std::pair<boost::system::error_code, field_list>> build_record(
      const std::string& build_id);

 private:
  struct finish_batcher;
  boost::asio::awaitable<void> flush_finishes(std::shared_ptr<finish_batcher> batcher);

  static void append_retention_args(std::vector<std::string>& args,
                                    const std::optional<retention_config>& policy);

  redis_client& redis_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<finish_batcher> finishes_;
  std::optional<retention_config> retention_;  // none: finish() prunes nothing
};

// The 404 answer for a build id that has no record: a build past the retention policy (its id
// carries its queue time) is said to have been removed by retention.
std::string missing_build_message(std::string_view build_id, const retention_config& policy,
                                  std::chrono::system_clock::time_point now =
                                      std::chrono::system_clock::now());

// Decodes a claim script reply; exposed for tests.
std::vector<claimed_job> decode_claims(const redis_value& reply);

// The Lua every queue script starts with (its helper functions); exposed for tests.
std::string queue_script_prelude();

}  // namespace kiwi
