#pragma once
// Checks shared by the Dockerfile tests (wizard, detection, auto and path modes).

#include <doctest/doctest.h>

#include <string_view>
#include <variant>

#include "common/build/dockerfile.hpp"
#include "common/git/repo_view.hpp"

namespace kiwi::test {

kiwi::dockerfile_error error_of(const auto& outcome) {
  REQUIRE_MESSAGE(std::holds_alternative<kiwi::dockerfile_error>(outcome), "expected an error");
  return std::get<kiwi::dockerfile_error>(outcome);
}

inline kiwi::wizard_output generated(const kiwi::repo_view& repo, std::string_view language = {},
                                     std::string_view framework = {}) {
  auto out = kiwi::generate_dockerfile(repo, language, framework);
  if (auto* e = std::get_if<kiwi::dockerfile_error>(&out)) {
    FAIL(e->field << ": " << e->message);
  }
  return std::get<kiwi::wizard_output>(out);
}

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace kiwi::test
