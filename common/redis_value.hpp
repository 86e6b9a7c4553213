#pragma once
// A Redis reply copied out of hiredis (whose replies live only for the duration of a callback).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kiwi {

struct redis_value {
  enum class kind { nil, integer, string, status, error, array };
  kind type = kind::nil;
  long long integer = 0;
  std::string str;  // string, status and error replies
  std::vector<redis_value> elements;

  bool is_error() const { return type == kind::error; }
  bool is_nil() const { return type == kind::nil; }
  // The string form of a bulk string, status or integer reply; nullopt otherwise.
  std::optional<std::string> as_string() const;
};

}  // namespace kiwi
