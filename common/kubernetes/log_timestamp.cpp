#include "common/kubernetes/log_timestamp.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace kiwi {

namespace {

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + n, out);
  return ec == std::errc() && p == s.data() + pos + n;
}

}  // namespace

std::optional<timestamped_line> split_log_timestamp(std::string_view line) {
  // 2024-09-12T06:22:28Z or 2024-09-12T06:22:28.123456789Z, then one space.
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (line.size() < 20 || line[4] != '-' || line[7] != '-' || line[10] != 'T' ||
      line[13] != ':' || line[16] != ':' || !digits(line, 0, 4, y) || !digits(line, 5, 2, mo) ||
      !digits(line, 8, 2, d) || !digits(line, 11, 2, h) || !digits(line, 14, 2, mi) ||
      !digits(line, 17, 2, se) || mo < 1 || mo > 12 || d < 1 || d > 31) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int32_t nanos = 0;
  if (line[pos] == '.') {
    ++pos;
    int scale = 9;
    while (pos < line.size() && std::isdigit(static_cast<unsigned char>(line[pos]))) {
      if (scale > 0) {
        nanos = nanos * 10 + (line[pos] - '0');
        --scale;
      }
      ++pos;
    }
    while (scale-- > 0) {
      nanos *= 10;
    }
  }
  if (pos + 1 > line.size() || line[pos] != 'Z') {
    return std::nullopt;
  }
  ++pos;
  if (pos < line.size() && line[pos] != ' ') {
    return std::nullopt;
  }
  timestamped_line out;
  out.at.seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  out.at.nanos = nanos;
  out.text = pos < line.size() ? line.substr(pos + 1) : std::string_view();
  return out;
}

std::string rfc3339_seconds(std::int64_t seconds) {
  // civil_from_days (Howard Hinnant), the inverse of days_from_civil.
  std::int64_t z = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --z;
  }
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  return buf;
}

}  // namespace kiwi
