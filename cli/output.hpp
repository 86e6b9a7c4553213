#pragma once
// Human-readable output: aligned tables, "key: value" blocks and one line per build event.

#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace kiwi::cli {

using table_row = std::vector<std::string>;

void print_table(std::ostream& out, const table_row& headers, const std::vector<table_row>& rows);

// Lines "key:   value", aligned.
void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

// "key: value" lines that leave out empty values (optional facts of a build or a preview).
class field_block {
 public:
  void add(std::string label, std::string value) {
    if (!value.empty()) {
      fields_.emplace_back(std::move(label), std::move(value));
    }
  }
  void print(std::ostream& out) const { print_fields(out, fields_); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// A JSON value as text: strings as they are, numbers and booleans printed, null and absent "".
std::string text_of(const nlohmann::json& object, const char* key);

// Unix milliseconds (as the build record stores them, a string) as "2026-11-28 16:08:34Z";
// "" stays "".
std::string format_unix_ms(const std::string& ms);

// The duration between two Unix-ms strings as "1.2s" / "3m04s"; "" when either is missing.
std::string format_duration(const std::string& from_ms, const std::string& to_ms);

// A duration in milliseconds as "850ms", "1.2s" or "3m04s".
std::string format_millis(long long ms);

// One line for a build event: "16:08:34.123  clone     succeeded  checked out ...".
std::string event_line(const nlohmann::json& event);

}  // namespace kiwi::cli
