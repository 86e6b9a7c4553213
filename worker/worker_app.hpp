#pragma once
// kiwi-worker as a whole: claims jobs from the shared Redis stream as one consumer of the
// group, runs up to worker.concurrency of them at once on one I/O thread (blocking work on a
// separate pool), and drains on SIGTERM.

#include <string>

#include "common/config.hpp"

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
