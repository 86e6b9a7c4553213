// kiwi-worker: claims build jobs from Redis and runs their stages. All logic lives in the
// kiwi_worker library; this file only reads the command line.

#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/config/program_start.hpp"
#include "worker/worker_app.hpp"

int main(int argc, char** argv) {
  std::string config_path;
  std::string log_format = "text";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--log-format" && i + 1 < argc) {
      log_format = argv[++i];
    } else {
      std::cerr << "usage: kiwi-worker --config FILE [--log-format text|json]\n";
      return arg == "--help" || arg == "-h" ? 0 : 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "usage: kiwi-worker --config FILE [--log-format text|json]\n";
    return 2;
  }
  std::optional<kiwi::kiwi_config> started = kiwi::start_program("kiwi-worker", config_path, log_format);
  if (!started) {
    return 2;
  }
  kiwi::kiwi_config config = std::move(*started);
  try {
    return kiwi::worker_app(std::move(config)).run();
  } catch (const std::exception& e) {
    spdlog::critical("kiwi-worker cannot start: {}", e.what());
    return 1;
  }
}
