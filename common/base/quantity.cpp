#include "common/base/quantity.hpp"

#include <array>
#include <cmath>
#include <string>
#include <utility>

namespace kiwi {

namespace {

// A quantity split into its number (as an exact decimal: digits and a power of ten) and its
// multiplier (a power of 2 or of 10 from the suffix).
struct decimal {
  std::uint64_t digits = 0;  // "1.5" -> 15
  int exponent = 0;          // "1.5" -> -1
};

std::optional<decimal> parse_number(std::string_view s) {
  decimal d;
  bool any = false, point = false;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.' && !point) {
      point = true;
      continue;
    }
    if (c < '0' || c > '9') {
      break;
    }
    any = true;
    if (d.digits > 100000000000000000ULL) {
      return std::nullopt;  // more significant digits than anyone writes
    }
    d.digits = d.digits * 10 + static_cast<std::uint64_t>(c - '0');
    if (point) {
      --d.exponent;
    }
  }
  if (!any) {
    return std::nullopt;
  }
  s.remove_prefix(i);
  if (!s.empty() && (s.front() == 'e' || s.front() == 'E')) {
    s.remove_prefix(1);
    bool negative = false;
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
      negative = s.front() == '-';
      s.remove_prefix(1);
    }
    if (s.empty() || s.size() > 2) {
      return std::nullopt;
    }
    int e = 0;
    for (const char c : s) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      e = e * 10 + (c - '0');
    }
    d.exponent += negative ? -e : e;
    return d;
  }
  if (!s.empty()) {
    return std::nullopt;
  }
  return d;
}

// digits * 10^exponent * binary, rounded up to an integer; nullopt past `max`.
std::optional<std::int64_t> scale(decimal d, long double binary, std::int64_t max) {
  long double v = static_cast<long double>(d.digits) * binary;
  v *= std::pow(10.0L, static_cast<long double>(d.exponent));
  v = std::ceil(v - 1e-9L);  // "0.1Mi" is a whole number of bytes up to rounding noise
  if (v < 0 || v > static_cast<long double>(max)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(v);
}

}  // namespace

std::optional<std::int64_t> cpu_nanos(std::string_view q) {
  int shift = 9;
  if (q.ends_with('m')) {
    shift = 6;
    q.remove_suffix(1);
  }
  const auto d = parse_number(q);
  if (!d) {
    return std::nullopt;
  }
  decimal scaled = *d;
  scaled.exponent += shift;
  if (scaled.exponent < 0) {
    // Finer than a nanocore unless the dropped digits are zeros.
    std::uint64_t digits = scaled.digits;
    for (int e = scaled.exponent; e < 0; ++e) {
      if (digits % 10 != 0) {
        return std::nullopt;
      }
      digits /= 10;
    }
    scaled = {digits, 0};
  }
  return scale(scaled, 1.0L, 1000000LL * 1000000000LL);
}

std::optional<std::int64_t> memory_bytes(std::string_view q) {
  static constexpr std::array<std::pair<std::string_view, long double>, 13> suffixes{{
      {"Ki", 1024.0L},
      {"Mi", 1024.0L * 1024},
      {"Gi", 1024.0L * 1024 * 1024},
      {"Ti", 1024.0L * 1024 * 1024 * 1024},
      {"Pi", 1024.0L * 1024 * 1024 * 1024 * 1024},
      {"Ei", 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024},
      {"k", 1e3L},
      {"M", 1e6L},
      {"G", 1e9L},
      {"T", 1e12L},
      {"P", 1e15L},
      {"E", 1e18L},
      {"m", 1e-3L},
  }};
  long double multiplier = 1.0L;
  for (const auto& [suffix, value] : suffixes) {
    // "E" alone is exa; "1e3" is an exponent: a suffix E follows a digit, never "e".
    if (q.size() > suffix.size() && q.ends_with(suffix)) {
      multiplier = value;
      q.remove_suffix(suffix.size());
      break;
    }
  }
  const auto d = parse_number(q);
  if (!d) {
    return std::nullopt;
  }
  return scale(*d, multiplier, std::int64_t{1} << 62);
}

}  // namespace kiwi
