#pragma once
// kiwi-worker as a whole: claims builds from the shared Redis scheduler (docs/queue.md), runs
// up to worker.concurrency of them at once on one I/O thread (blocking work on a separate
// pool), keeps their leases alive with heartbeats, stops them when they are cancelled, and on
// SIGTERM drains until worker.drain_timeout, then hands the rest back to the queue.

#include <string>

#include "common/config/config.hpp"

namespace kiwi {

class worker_app {
 public:
  explicit worker_app(kiwi_config config);
  int run();

  // "<hostname>-<pid>": unique across the hosts and processes sharing a queue.
  static std::string default_consumer_name();

 private:
  kiwi_config config_;
};

}  // namespace kiwi
