#pragma once
// Build ids: 26 lowercase Crockford base32 characters, a 48-bit millisecond timestamp followed
// by 80 random bits (ULID layout), so ids sort by creation time and need no Redis round trip.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kiwi {

std::string new_build_id();
std::string new_build_id(std::chrono::system_clock::time_point at, unsigned __int128 random80);

// When a build id was made (its timestamp), or nullopt for text that is not a build id.
std::optional<std::chrono::system_clock::time_point> build_id_time(std::string_view id);

}  // namespace kiwi
