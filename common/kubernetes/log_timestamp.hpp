#pragma once
// Timestamps of the Kubernetes pod log (requested with timestamps=true), so that a log stream
// resumed with sinceTime shows no line twice. No I/O.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kiwi {

// A log line requested with timestamps=true: "2024-09-12T06:22:28.123456789Z text".
struct log_time {
  std::int64_t seconds = 0;  // since the epoch
  std::int32_t nanos = 0;
  auto operator<=>(const log_time&) const = default;
};
struct timestamped_line {
  log_time at;
  std::string_view text;
};
// nullopt when the line does not start with an RFC 3339 timestamp and a space.
std::optional<timestamped_line> split_log_timestamp(std::string_view line);
// seconds → "2024-09-12T06:22:28Z" for sinceTime.
std::string rfc3339_seconds(std::int64_t seconds);

}  // namespace kiwi
