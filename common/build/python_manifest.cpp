#include "common/build/python_manifest.hpp"

#include <cctype>

#include "common/build/wizard_language.hpp"

namespace kiwi::wizard {
namespace {

// A requirement's distribution name, normalised: "Flask[async]>=3" → "flask".
std::string requirement_name(std::string_view spec) {
  std::string name;
  for (char c : spec) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') {
      name.push_back(c == '_' || c == '.' ? '-' : static_cast<char>(std::tolower(
                                                      static_cast<unsigned char>(c))));
    } else {
      break;
    }
  }
  return name;
}

// Adds the names of the quoted requirements in one line of a TOML array; false once the array
// closes.
bool scan_requirement_array(std::string_view line, std::set<std::string>& out) {
  for (std::size_t q = line.find_first_of("\"'"); q != std::string_view::npos;) {
    const auto end = line.find(line[q], q + 1);
    if (end == std::string_view::npos) {
      break;
    }
    if (auto name = requirement_name(line.substr(q + 1, end - q - 1)); !name.empty()) {
      out.insert(name);
    }
    q = line.find_first_of("\"'", end + 1);
  }
  return line.find(']') == std::string_view::npos;
}

}  // namespace

std::set<std::string> requirements_txt(std::string_view text) {
  std::set<std::string> out;
  for (const auto& raw : lines_of(text)) {
    std::string line = trimmed(raw.substr(0, raw.find('#')));
    if (line.empty() || line.front() == '-') {
      continue;
    }
    if (auto name = requirement_name(line); !name.empty()) {
      out.insert(name);
    }
  }
  return out;
}

bool poetry_pyproject(std::string_view text) {
  for (const auto& line : lines_of(text)) {
    if (trimmed(line) == "[tool.poetry]") {
      return true;
    }
  }
  return false;
}

std::set<std::string> pyproject_dependencies(std::string_view text) {
  std::set<std::string> out;
  std::string table;
  bool in_array = false;
  for (const auto& raw : lines_of(text)) {
    const std::string line = trimmed(raw);
    if (in_array) {
      in_array = scan_requirement_array(line, out);
    } else if (line.starts_with("[")) {
      table = line;
    } else if (line.empty() || line.front() == '#') {
      continue;
    } else if (table == "[tool.poetry.dependencies]") {
      std::string key = trimmed(line.substr(0, line.find('=')));
      if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'')) {
        key = key.substr(1, key.size() - 2);
      }
      if (auto name = requirement_name(key); !name.empty() && name != "python") {
        out.insert(name);
      }
    } else if (table == "[project]" && line.starts_with("dependencies")) {
      if (auto bracket = line.find('['); bracket != std::string::npos) {
        in_array = scan_requirement_array(std::string_view(line).substr(bracket + 1), out);
      }
    }
  }
  return out;
}

}  // namespace kiwi::wizard
