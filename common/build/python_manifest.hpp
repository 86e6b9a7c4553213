#pragma once
// What the wizard reads from a Python project's manifests (wizard_python.cpp): the names of its
// main dependencies, normalised ("Flask[async]>=3" → "flask"). Enough of requirements.txt and
// TOML for manifests, not a parser of either. Internal to common/build/.

#include <set>
#include <string>
#include <string_view>

namespace kiwi::wizard {

// The requirements of a requirements.txt (options, comments and blank lines skipped).
std::set<std::string> requirements_txt(std::string_view text);

// Whether a pyproject.toml has a [tool.poetry] table.
bool poetry_pyproject(std::string_view text);

// Main dependencies of a pyproject.toml: [tool.poetry.dependencies] keys (without python) and
// the strings of [project] dependencies = [...].
std::set<std::string> pyproject_dependencies(std::string_view text);

}  // namespace kiwi::wizard
