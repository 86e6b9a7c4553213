#pragma once
// Words of build output that its readers share (buildah_output.cpp, registry_errors.cpp,
// kaniko_failure.cpp). Internal to worker/.

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/base/text.hpp"

namespace kiwi::output_text {

inline constexpr std::size_t max_detail = 400;  // longest buildah error text quoted to the user

inline bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

inline bool contains_any(std::string_view text, std::initializer_list<std::string_view> what) {
  return std::any_of(what.begin(), what.end(),
                     [&](std::string_view w) { return contains(text, w); });
}

// At most max_detail characters of a trimmed text, "..." marking a cut.
inline std::string shortened(std::string_view text) {
  text = trim_whitespace(text);
  if (text.size() <= max_detail) {
    return std::string(text);
  }
  return std::string(text.substr(0, max_detail)) + "...";
}

// Reads a decimal number at the front of s (advancing it); -1 if there is none.
inline int take_number(std::string_view& s) {
  int value = 0;
  std::size_t n = 0;
  while (n < s.size() && n < 9 && std::isdigit(static_cast<unsigned char>(s[n]))) {
    value = value * 10 + (s[n] - '0');
    ++n;
  }
  if (n == 0) {
    return -1;
  }
  s.remove_prefix(n);
  return value;
}

}  // namespace kiwi::output_text
