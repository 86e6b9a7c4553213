#pragma once
// The option groups of the config file (http, worker, queue, retention, git, build, scan), each read
// into kiwi_config and validated with errors naming the key; config.cpp reads the top-level
// keys and the resource lists around them. Internal to the config library.

#include <nlohmann/json_fwd.hpp>

#include "common/config/config.hpp"

namespace kiwi {

// Reads the groups present in `root` (absent ones keep their defaults); throws field_error.
void parse_config_sections(const nlohmann::json& root, kiwi_config& c);

}  // namespace kiwi
