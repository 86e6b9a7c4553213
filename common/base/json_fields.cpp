#include "common/base/json_fields.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiwi::json_fields {

void reject_unknown(const json& obj, const std::string& where,
                    std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      fail(join(where, key), "unknown key; see docs/configuration.md");
    }
  }
}

const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string get_string(const json& obj, const char* key, const std::string& path, bool required,
                       std::string fallback) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    if (required) {
      fail(path, "is required");
    }
    return fallback;
  }
  if (!v->is_string()) {
    fail(path, "must be a string");
  }
  return v->get<std::string>();
}

bool get_bool(const json& obj, const char* key, const std::string& path, bool fallback) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    return fallback;
  }
  if (!v->is_boolean()) {
    fail(path, "must be true or false");
  }
  return v->get<bool>();
}

std::uint64_t get_uint(const json& obj, const char* key, const std::string& path,
                       std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
  const json* v = member(obj, key);
  if (v == nullptr) {
    return fallback;
  }
  if (!v->is_number_integer() || v->get<std::int64_t>() < 0) {
    fail(path, "must be a non-negative integer");
  }
  auto n = v->get<std::uint64_t>();
  if (n < min || n > max) {
    fail(path, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                   " (got " + std::to_string(n) + ")");
  }
  return n;
}

std::string read_file_field(const std::string& file, const std::string& base_dir,
                            const std::string& path) {
  std::filesystem::path p = file;
  if (p.is_relative()) {
    p = std::filesystem::path(base_dir) / p;
  }
  std::ifstream in(p);
  if (!in) {
    fail(path, "cannot read " + p.string());
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  if (s.empty()) {
    fail(path, p.string() + " is empty");
  }
  return s;
}

}  // namespace kiwi::json_fields
