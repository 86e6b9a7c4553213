#pragma once
// The start kiwid and kiwi-worker share: logging in the chosen format (text or json), the
// config file loaded and validated, and the git host policy set from it.

#include <optional>
#include <string>
#include <string_view>

#include "common/config/config.hpp"

namespace kiwi {

// nullopt after printing why (to stderr, or as a log line once logging is up): the program
// exits with 2, the exit code of a configuration error.
std::optional<kiwi_config> start_program(std::string_view program, const std::string& config_path,
                                         const std::string& log_format);

}  // namespace kiwi
