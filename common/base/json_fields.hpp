#pragma once
// Reading typed fields out of JSON objects with errors that name the field: shared by the
// config file and the API's resource parsers. Every helper throws field_error(path, what).

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace kiwi {

// Thrown by every parser of a config key or an API field: the field (a dotted path such as
// "dockerfile.path") and what to fix.
struct field_error : std::runtime_error {
  field_error(std::string field, const std::string& message)
      : std::runtime_error(message), field(std::move(field)) {}
  std::string field;  // e.g. "git_url", "dockerfile.path"
};

}  // namespace kiwi

namespace kiwi::json_fields {

using json = nlohmann::json;

[[noreturn]] inline void fail(const std::string& path, const std::string& what) {
  throw field_error(path, what);
}

// Unknown keys are errors: a misspelt option must not silently fall back to its default.
void reject_unknown(const json& obj, const std::string& where,
                    std::initializer_list<std::string_view> known);

const json* member(const json& obj, const char* key);

std::string get_string(const json& obj, const char* key, const std::string& path, bool required,
                       std::string fallback = {});
bool get_bool(const json& obj, const char* key, const std::string& path, bool fallback);
std::uint64_t get_uint(const json& obj, const char* key, const std::string& path,
                       std::uint64_t fallback, std::uint64_t min, std::uint64_t max);

// Reads a file named by a *_file field (relative to base_dir); trailing newlines are dropped.
std::string read_file_field(const std::string& file, const std::string& base_dir,
                            const std::string& path);

// "a.b" for a nested field, "b" at the top.
inline std::string join(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

}  // namespace kiwi::json_fields
