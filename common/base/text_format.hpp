#pragma once
// Hand-written JSON string literals and RFC 3339 timestamps, for the hot paths that build JSON
// without a DOM (build events, log lines). Plain functions of their inputs.

#include <chrono>
#include <string>
#include <string_view>

namespace kiwi {

// Appends s as a JSON string literal: control characters escaped, invalid UTF-8 replaced by
// U+FFFD, so the result is valid JSON whatever s holds.
void append_json_string(std::string& out, std::string_view s);

// RFC 3339 UTC with milliseconds: 2026-11-28T16:08:34.123Z
std::string format_timestamp(std::chrono::system_clock::time_point t);
long long unix_millis(std::chrono::system_clock::time_point t);

}  // namespace kiwi
