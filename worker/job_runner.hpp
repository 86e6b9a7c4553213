#pragma once
// Runs one claimed build: a thin loop that performs the actions of the pipeline state machine
// (worker/pipeline.hpp) and feeds their answers back to it. It records every state change as
// an event; stages run through stage_runner. The build ends through job_queue::finish (or
// release, when handed back on shutdown), fenced by its lease: a worker that lost the build to
// another one writes nothing more.
//
// Job kinds (the build record's `kind`):
// - push: the clone stage, then the build stage (build and push the image) unless the
//   service's dockerfile mode is none (scan and deploy stages follow in later work);
// - deploy: one deploy stage running the revision in the record's deployment_id (API deploys
//   and rollbacks, worker/deploy_stage.hpp);
// - noop: one stage that sleeps `noop_ms` (cancellable): for benchmarks and queue tests.

#include <atomic>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "common/store/resource_store.hpp"
#include "worker/build_network.hpp"
#include "worker/pipeline.hpp"
#include "worker/stage_runner.hpp"

namespace kiwi {

// Shared between the worker's bookkeeping (heartbeats, shutdown) and one running build. All
// members but `stop` are touched on the worker's I/O thread only; `stop` is also read by
// blocking stages (libgit2 checks it from the blocking pool).
struct job_control {
  std::atomic<bool> stop{false};
  stop_reason reason = stop_reason::none;
  bool in_deploy = false;  // the deploy stage is never interrupted by a cancel request
  bool want_next = true;   // finish() may claim the worker's next build (false when draining)
  std::vector<claimed_job> next;  // what finish() claimed: the worker starts it in this slot

  // Records the first reason; a later one (say, shutdown after a cancel) does not replace it.
  void request_stop(stop_reason why) {
    if (reason == stop_reason::none) {
      reason = why;
    }
    stop.store(true);
  }
};

class job_runner {
 public:
  // store: services registered through the API (those not in the config file).
  // network: prepared at worker start (prepare_build_network).
  job_runner(const kiwi_config& config, job_queue& queue, resource_store& store,
             deployment_store& deployments, boost::asio::thread_pool& blocking,
             std::string worker_name, build_network network);

  // Never throws: every failure becomes stage.failed/build.failed events.
  boost::asio::awaitable<void> run(claimed_job job, job_control& control);

  // After the drain deadline: records still failing because Redis is down are given up (the
  // build's lease then expires and another worker runs it again).
  void give_up_recording() { give_up_.store(true); }

 private:
  struct running;  // one build's state while run() goes

  // Performs one action; the answer the pipeline waits for, if the action has one.
  boost::asio::awaitable<std::optional<pipeline_event>> perform(running& build,
                                                                const pipeline_action& action);
  // Records an event (fenced by the lease), retrying while Redis is unreachable. False when the
  // lease is lost or recording was given up.
  boost::asio::awaitable<bool> record(const claimed_job& job, const build_event& event,
                                      const field_list& fields);
  // Ends the build, retrying while Redis is unreachable; claims the next one into
  // control.next when control.want_next.
  boost::asio::awaitable<void> finish(const claimed_job& job, const job_result& result,
                                      job_control& control);
  // Hands the build back to the front of its queue (shutdown), retrying while Redis is down.
  boost::asio::awaitable<void> release(const claimed_job& job, const std::string& message);

  const kiwi_config& config_;
  job_queue& queue_;
  std::string worker_name_;
  stage_runner stages_;
  std::atomic<bool> give_up_{false};
};

}  // namespace kiwi
