#include "common/build/tag_rule.hpp"

#include <cstdio>
#include <ctime>

namespace kiwi {
namespace {

constexpr std::size_t max_tag_length = 128;

bool tag_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool separator(char c) { return c == '.' || c == '-'; }

// FNV-1a: a stable, dependency-free hash to tell long tags apart (not for security).
std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h = (h ^ c) * 16777619u;
  }
  return h;
}

std::string_view trim_separators(std::string_view s) {
  while (!s.empty() && separator(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && separator(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string check_tag_rule(std::string_view rule) {
  if (rule.empty()) {
    return "must not be empty (e.g. ${BRANCH}-${SHORT_SHA})";
  }
  for (std::size_t i = 0; i < rule.size(); ++i) {
    if (rule[i] != '$') {
      continue;
    }
    if (i + 1 >= rule.size() || rule[i + 1] != '{') {
      return "a '$' must start a variable such as ${SHORT_SHA}";
    }
    auto end = rule.find('}', i);
    if (end == std::string_view::npos) {
      return "\"" + std::string(rule.substr(i)) + "\" is missing its closing '}'";
    }
    std::string_view name = rule.substr(i + 2, end - i - 2);
    bool known = false;
    for (auto v : tag_variables) {
      known = known || v == name;
    }
    if (!known) {
      return "unknown variable ${" + std::string(name) +
             "}; use BRANCH, SHORT_SHA, SHA, TAG, BUILD_NUMBER, TIMESTAMP or SERVICE";
    }
    i = end;
  }
  return {};
}

std::string tag_timestamp(std::chrono::system_clock::time_point time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

std::string sanitize_tag(std::string_view text) {
  std::string replaced;
  replaced.reserve(text.size());
  for (char c : text) {
    replaced.push_back(tag_char(c) ? c : '-');
  }
  std::string tag(trim_separators(replaced));
  if (tag.size() > max_tag_length) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "-%08x", static_cast<unsigned>(fnv1a(tag)));
    tag = std::string(trim_separators(std::string_view(tag).substr(0, max_tag_length - 9))) +
          suffix;
  }
  return tag;
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > max_tag_length || separator(tag.front())) {
    return false;
  }
  for (char c : tag) {
    if (!tag_char(c)) {
      return false;
    }
  }
  return true;
}

std::variant<std::string, tag_error> render_tag(std::string_view rule, const tag_values& values) {
  if (auto problem = check_tag_rule(rule); !problem.empty()) {
    return tag_error{"tag_rule: " + problem};
  }
  std::string out;
  for (std::size_t i = 0; i < rule.size(); ++i) {
    if (rule[i] != '$') {
      out.push_back(rule[i]);
      continue;
    }
    const auto end = rule.find('}', i);
    const std::string_view name = rule.substr(i + 2, end - i - 2);
    if (name == "BRANCH") {
      out += values.branch;
    } else if (name == "SHORT_SHA") {
      out += values.sha.substr(0, 7);
    } else if (name == "SHA") {
      out += values.sha;
    } else if (name == "TAG") {
      out += values.tag;
    } else if (name == "BUILD_NUMBER") {
      out += values.build_number ? std::to_string(*values.build_number) : std::string();
    } else if (name == "TIMESTAMP") {
      out += tag_timestamp(values.time);
    } else if (name == "SERVICE") {
      out += values.service;
    }
    i = end;
  }
  std::string tag = sanitize_tag(out);
  if (tag.empty()) {
    return tag_error{"tag_rule: \"" + std::string(rule) +
                     "\" gives an empty tag for this build (its variables are empty here, e.g. "
                     "${TAG} on a branch build); add one that is always set, such as "
                     "${SHORT_SHA}: \"${TAG}${BRANCH}-${SHORT_SHA}\""};
  }
  return tag;
}

}  // namespace kiwi
