#pragma once
// kiwid as a whole: I/O threads (each with its own acceptor on the shared port, Redis
// connection and sessions), signals, systemd notification and graceful shutdown.

#include <filesystem>
#include <memory>

#include "common/config/config.hpp"

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

// kiwid --rekey: re-encrypts every stored secret from the old key file to the configured
// secrets_key_file (made if missing) and returns the exit status.
int rekey_secrets(const kiwi_config& config, const std::filesystem::path& old_key_file);

}  // namespace kiwi
