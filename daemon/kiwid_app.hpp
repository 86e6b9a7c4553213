#pragma once
// kiwid as a whole: I/O threads (each with its own acceptor on the shared port, Redis
// connection and sessions), signals, systemd notification and graceful shutdown.

#include <memory>

#include "common/config.hpp"

namespace kiwi {

class kiwid_app {
 public:
  explicit kiwid_app(kiwi_config config);
  ~kiwid_app();
  // Serves until SIGTERM or SIGINT, then drains in-flight requests; returns the exit code.
  int run();

 private:
  struct io_thread;
  kiwi_config config_;
};

}  // namespace kiwi
