#pragma once
// Build ids: 26 lowercase Crockford base32 characters, a 48-bit millisecond timestamp followed
// by 80 random bits (ULID layout), so ids sort by creation time and need no Redis round trip.

#include <chrono>
#include <string>

namespace kiwi {

std::string new_build_id();
std::string new_build_id(std::chrono::system_clock::time_point at, unsigned __int128 random80);

}  // namespace kiwi
