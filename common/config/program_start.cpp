#include "common/config/program_start.hpp"

#include <exception>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/base/logging.hpp"
#include "common/git/git.hpp"

namespace kiwi {

std::optional<kiwi_config> start_program(std::string_view program, const std::string& config_path,
                                         const std::string& log_format) {
  try {
    init_logging(parse_log_format(log_format), std::string(program));
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return std::nullopt;
  }
  try {
    kiwi_config config = load_config(config_path);
    git::set_host_policy(config.git.hosts);
    return config;
  } catch (const config_error& e) {
    spdlog::error("invalid configuration {}: {}", config_path, e.what());
    return std::nullopt;
  }
}

}  // namespace kiwi
