#pragma once
// Runs one claimed build's pipeline and records every state change as an event. The build
// ends through job_queue::finish (or release, when handed back on shutdown), fenced by its
// lease: a worker that lost the build to another one writes nothing more.
//
// Job kinds (the build record's `kind`):
// - push: the clone stage, then the build stage (build and push the image) unless the
//   service's dockerfile mode is none (scan and deploy stages follow in later work);
// - noop: one stage that sleeps `noop_ms` (cancellable): for benchmarks and queue tests.

#include <atomic>
#include <filesystem>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "common/store/resource_store.hpp"
#include "worker/build_network.hpp"

namespace kiwi {

// Why a running build is asked to stop.
enum class stop_reason { none, cancelled, superseded, lease_lost, shutdown };

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
             boost::asio::thread_pool& blocking, std::string worker_name, build_network network);

  // Never throws: every failure becomes stage.failed/build.failed events.
  boost::asio::awaitable<void> run(claimed_job job, job_control& control);

  // After the drain deadline: records still failing because Redis is down are given up (the
  // build's lease then expires and another worker runs it again).
  void give_up_recording() { give_up_.store(true); }

 private:
  boost::asio::awaitable<void> run_push(const claimed_job& job, const build_event& base,
                                        job_control& control);
  // The build stage after a successful clone (worker/build_stage.hpp); ends the build.
  boost::asio::awaitable<void> run_build(const claimed_job& job, const build_event& base,
                                         const service_config& service,
                                         const std::filesystem::path& workspace,
                                         job_control& control);
  boost::asio::awaitable<void> remove_workspace(const std::filesystem::path& workspace);
  boost::asio::awaitable<void> run_noop(const claimed_job& job, const build_event& base,
                                        job_control& control);

  // Records an event (fenced by the lease), retrying while Redis is unreachable. False when the
  // lease is lost or recording was given up.
  boost::asio::awaitable<bool> record(const claimed_job& job, const build_event& event,
                                      const field_list& fields);
  // Ends the build, retrying while Redis is unreachable; claims the next one into
  // control.next when control.want_next.
  boost::asio::awaitable<void> finish(const claimed_job& job, const job_result& result,
                                      job_control& control);
  // Ends a build that was asked to stop, as its reason says.
  boost::asio::awaitable<void> end_stopped(const claimed_job& job, const build_event& base,
                                           job_control& control, std::string_view stage);
  boost::asio::awaitable<void> fail_permanently(const claimed_job& job, const build_event& base,
                                                std::string message, bool dead_letter,
                                                job_control& control);

  const kiwi_config& config_;
  job_queue& queue_;
  resource_store& store_;
  boost::asio::thread_pool& blocking_;
  std::string worker_name_;
  build_network network_;  // what every local build's RUN steps may reach
  std::atomic<bool> give_up_{false};
};

}  // namespace kiwi
