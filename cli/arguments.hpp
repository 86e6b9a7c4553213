#pragma once
// Command-line options: `--name value`, `--name=value`, boolean `--flag` / `--no-flag` /
// `--flag=false`, short aliases (`-f`), `--` ending the options. Unknown options are usage
// errors.

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kiwi::cli {

struct option_spec {
  const char* name;        // without the leading "--"
  bool takes_value;        // false: a boolean flag
  char short_name = '\0';  // e.g. 'f' for -f
};

class arguments {
 public:
  // Throws usage_error.
  arguments(const std::vector<std::string>& args, std::span<const option_spec> spec);

  const std::vector<std::string>& positionals() const { return positionals_; }
  bool has(const std::string& name) const { return values_.contains(name); }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // A boolean flag: nullopt when absent.
  std::optional<bool> flag(const std::string& name) const;
  // An unsigned number option; usage_error when not one.
  std::optional<unsigned long> number(const std::string& name) const;
  bool empty() const { return values_.empty(); }
  // The option names given, for "which flags were used".
  std::vector<std::string> names() const;

 private:
  std::vector<std::string> positionals_;
  std::map<std::string, std::string> values_;  // the last value of each option
};

}  // namespace kiwi::cli
