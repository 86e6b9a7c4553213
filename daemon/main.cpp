// kiwid: receives GitHub/GitLab push webhooks, enqueues build jobs in Redis, serves health and
// metrics. All logic lives in the kiwi_daemon library; this file only reads the command line.

#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "common/config/program_start.hpp"
#include "daemon/api/openapi.hpp"
#include "daemon/kiwid_app.hpp"

namespace {

void usage() {
  std::cerr << "usage: kiwid --config FILE [--log-format text|json] [--check-config]\n"
               "       kiwid --config FILE --rekey --old-secrets-key-file OLD\n"
               "       kiwid --print-openapi\n"
               "  --rekey re-encrypts every stored secret from OLD to the config's\n"
               "  secrets_key_file (docs/api.md), then exits.\n"
               "  --print-openapi prints the API's OpenAPI document (docs/openapi.json).\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::string log_format = "text";
  bool check_only = false;
  std::string old_key_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--log-format" && i + 1 < argc) {
      log_format = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--rekey") {
      // with --old-secrets-key-file
    } else if (arg == "--old-secrets-key-file" && i + 1 < argc) {
      old_key_file = argv[++i];
    } else if (arg == "--print-openapi") {
      std::cout << kiwi::openapi_text();
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else {
      std::cerr << "kiwid: unknown argument " << arg << "\n";
      usage();
      return 2;
    }
  }
  if (config_path.empty()) {
    usage();
    return 2;
  }
  std::optional<kiwi::kiwi_config> started = kiwi::start_program("kiwid", config_path, log_format);
  if (!started) {
    return 2;
  }
  kiwi::kiwi_config config = std::move(*started);
  if (check_only) {
    std::cout << "configuration " << config_path << " is valid (" << config.services.size()
              << " services)\n";
    return 0;
  }
  if (!old_key_file.empty()) {
    try {
      return kiwi::rekey_secrets(config, old_key_file);
    } catch (const std::exception& e) {
      spdlog::error("re-encryption failed: {}", e.what());
      return 1;
    }
  }
  try {
    return kiwi::kiwid_app(std::move(config)).run();
  } catch (const std::exception& e) {
    spdlog::critical("kiwid cannot start: {}", e.what());
    return 1;
  }
}
