#pragma once
// Text helpers of the Dockerfile code (dockerfile_location.cpp and the wizard's files): paths as
// '/'-separated strings, lists in messages, JSON quoting. Internal to common/build/.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiwi::dockerfile_text {

// "a/b/c.txt" → "c.txt"
inline std::string_view basename(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "a/b/c.txt" → "a/b"; "" for a file at the root
inline std::string_view dirname(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

// How many folders down a path is: 0 at the root.
inline std::size_t depth(std::string_view path) {
  return static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

inline std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += sep;
    }
    out += item;
  }
  return out;
}

// A JSON string: also the quoting of a Dockerfile's exec-form arguments. Bytes that are not
// UTF-8 (a pushed file name may hold any) become U+FFFD instead of throwing.
inline std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                             nlohmann::json::error_handler_t::replace);
}

}  // namespace kiwi::dockerfile_text
