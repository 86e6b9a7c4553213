#pragma once
// Small ASCII text helpers shared by parsers (forge URLs, registry challenges, Dockerfiles,
// build output).

#include <cctype>
#include <string>
#include <string_view>

namespace kiwi {

// ASCII lower case (host names, header parameters, Dockerfile keywords).
inline std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Without leading and trailing white space.
inline std::string_view trim_whitespace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// The value of one hex digit (either case), or -1 (hex signatures, percent-encoding).
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace kiwi
