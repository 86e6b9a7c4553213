#pragma once
// spdlog to stderr, journald-friendly: plain text lines, or one JSON object per line with
// --log-format json. Nothing logged may contain a secret: log names and reasons, never values
// of tokens, passwords or webhook secrets.

#include <string_view>

namespace kiwi {

enum class log_format { text, json };

// Throws std::invalid_argument for an unknown format name.
log_format parse_log_format(std::string_view name);
void init_logging(log_format format, std::string_view program);

}  // namespace kiwi
