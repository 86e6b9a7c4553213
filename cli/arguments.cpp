#include "cli/arguments.hpp"

#include <charconv>

#include "cli/cli_error.hpp"

namespace kiwi::cli {

namespace {

const option_spec* find(std::span<const option_spec> spec, std::string_view name) {
  for (const auto& o : spec) {
    if (name == o.name) {
      return &o;
    }
  }
  return nullptr;
}

std::optional<bool> parse_bool(std::string_view v) {
  if (v == "true" || v == "yes" || v == "1" || v == "on") {
    return true;
  }
  if (v == "false" || v == "no" || v == "0" || v == "off") {
    return false;
  }
  return std::nullopt;
}

}  // namespace

arguments::arguments(const std::vector<std::string>& args, std::span<const option_spec> spec) {
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a == "-" || !a.starts_with("-")) {
      positionals_.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name;
    std::optional<std::string> inline_value;
    if (a.starts_with("--")) {
      name = a.substr(2);
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
    } else {
      if (a.size() != 2) {
        throw usage_error("unknown option " + a);
      }
      const option_spec* found = nullptr;
      for (const auto& o : spec) {
        if (o.short_name == a[1]) {
          found = &o;
        }
      }
      if (found == nullptr) {
        throw usage_error("unknown option " + a);
      }
      name = found->name;
    }
    const option_spec* o = find(spec, name);
    if (o == nullptr && name.starts_with("no-") && !inline_value) {
      if (const option_spec* negated = find(spec, name.substr(3));
          negated != nullptr && !negated->takes_value) {
        values_[negated->name] = "false";
        continue;
      }
    }
    if (o == nullptr) {
      throw usage_error("unknown option --" + name);
    }
    if (o->takes_value) {
      if (inline_value) {
        values_[name] = *inline_value;
      } else if (i + 1 < args.size()) {
        values_[name] = args[++i];
      } else {
        throw usage_error("option --" + name + " needs a value");
      }
    } else {
      if (inline_value && !parse_bool(*inline_value)) {
        throw usage_error("option --" + name + " is true or false, not \"" + *inline_value + "\"");
      }
      values_[name] = inline_value ? (*parse_bool(*inline_value) ? "true" : "false") : "true";
    }
  }
}

std::optional<std::string> arguments::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::string arguments::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::optional<bool> arguments::flag(const std::string& name) const {
  auto v = get(name);
  if (!v) {
    return std::nullopt;
  }
  return *v == "true";
}

std::optional<unsigned long> arguments::number(const std::string& name) const {
  auto v = get(name);
  if (!v) {
    return std::nullopt;
  }
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size() || v->empty()) {
    throw usage_error("option --" + name + " needs a number, not \"" + *v + "\"");
  }
  return n;
}

std::vector<std::string> arguments::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_) {
    out.push_back(k);
  }
  return out;
}

}  // namespace kiwi::cli
