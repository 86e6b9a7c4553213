#pragma once
// Runs one job's pipeline (for now: the clone stage) and records every state change as an
// event. The job is acknowledged in the same Redis script that records its outcome.

#include <atomic>
#include <filesystem>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/config.hpp"
#include "common/job_queue.hpp"

namespace kiwi {

class job_runner {
 public:
  job_runner(const kiwi_config& config, job_queue& queue, boost::asio::thread_pool& blocking);

  // Never throws: every failure becomes stage.failed/build.failed events.
  boost::asio::awaitable<void> run(queued_job job);

  // Asks running jobs to stop at their next cancellable point (used on shutdown timeout).
  void cancel_all() { cancel_.store(true); }

 private:
  // Records an event, retrying while Redis is unreachable (an outcome is never dropped);
  // gives up only when shutting down, leaving the job pending for another worker.
  boost::asio::awaitable<bool> record(const build_event& event, const field_list& fields,
                                      const std::optional<acknowledge>& ack);

  boost::asio::awaitable<void> fail_build(const queued_job& job, const build_event& base,
                                          std::string message);

  const kiwi_config& config_;
  job_queue& queue_;
  boost::asio::thread_pool& blocking_;
  std::atomic<bool> cancel_{false};
};

}  // namespace kiwi
