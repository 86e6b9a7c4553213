#pragma once
// Runs the disk sweep (sweep.hpp decides, sweep_disk.hpp lists and removes) when the worker
// starts and then every worker.sweep_interval_s: asks Redis which of the builds found on disk
// still hold a lease or will run again, and which services exist, and logs what went.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/config/config.hpp"
#include "common/redis/redis_client.hpp"
#include "common/store/resource_store.hpp"
#include "worker/sweep_disk.hpp"

namespace kiwi {

class disk_sweeper {
 public:
  // All references must outlive the sweeper; executor is redis's (the worker's I/O thread).
  disk_sweeper(const kiwi_config& config, redis_client& redis, resource_store& store,
               boost::asio::thread_pool& blocking, boost::asio::any_io_executor executor);

  // Sweeps now, then every interval (only once when it is 0), until stop().
  boost::asio::awaitable<void> run();
  void stop();

  // One sweep; what it removed.
  boost::asio::awaitable<sweep_report> sweep_once();

 private:
  boost::asio::awaitable<sweep_facts> ask_redis(const disk_survey& survey);

  const kiwi_config& config_;
  redis_client& redis_;
  resource_store& store_;
  boost::asio::thread_pool& blocking_;
  buildah_storage storage_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

}  // namespace kiwi
