// Mode wizard: the registry of languages, the check of a service's choices, and the choice of
// the language; each language's own file (wizard_<name>.cpp) detects the rest and renders.

#include <algorithm>
#include <cctype>

#include "common/build/dockerfile.hpp"
#include "common/build/dockerfile_text.hpp"
#include "common/build/wizard_language.hpp"

namespace kiwi {

namespace wizard {

const std::vector<const language*>& languages() {
  // One line per language, in the order docs and messages list them.
  static const std::vector<const language*> all = {
      &node_language(),
      &python_language(),
      &java_language(),
      &go_language(),
  };
  return all;
}

}  // namespace wizard

namespace {

using namespace dockerfile_text;
using wizard::error;

const wizard::language* find_language(std::string_view name) {
  const auto& all = wizard::languages();
  auto it = std::find_if(all.begin(), all.end(),
                         [&](const wizard::language* l) { return l->name == name; });
  return it == all.end() ? nullptr : *it;
}

bool offers(const wizard::language& l, std::string_view framework) {
  return std::find(l.frameworks.begin(), l.frameworks.end(), framework) != l.frameworks.end();
}

// "a, b, c or d"
std::string one_of(const std::vector<std::string>& names) {
  if (names.size() < 2) {
    return join(names, "");
  }
  return join({names.begin(), names.end() - 1}, ", ") + " or " + names.back();
}

// Every framework once, each with the first language offering it: "plain, express (node), ...".
std::string all_frameworks() {
  std::vector<std::string> listed;
  std::vector<std::string> groups;
  for (const auto* l : wizard::languages()) {
    std::vector<std::string> fresh;
    for (auto f : l->frameworks) {
      if (std::find(listed.begin(), listed.end(), f) == listed.end()) {
        listed.emplace_back(f);
        fresh.emplace_back(f);
      }
    }
    if (!fresh.empty()) {
      groups.push_back(join(fresh, ", ") + " (" + std::string(l->name) + ")");
    }
  }
  return join(groups, ", ");
}

bool image_reference(std::string_view image) {
  return !image.empty() && std::none_of(image.begin(), image.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isspace(u) || std::iscntrl(u);
  });
}

// The languages in the order they are tried when none is given.
std::vector<const wizard::language*> by_detection_rank() {
  std::vector<const wizard::language*> out = wizard::languages();
  std::stable_sort(out.begin(), out.end(), [](const auto* a, const auto* b) {
    return a->detection_rank < b->detection_rank;
  });
  return out;
}

// The language: as given (its marker must exist), else the first whose marker exists; `notes`
// gets the markers of the others found.
std::variant<const wizard::language*, dockerfile_error> choose_language(
    const wizard::project_files& files, std::string_view language,
    std::vector<std::string>& notes) {
  if (!language.empty()) {
    const wizard::language* given = find_language(language);
    if (!given->find_marker(files)) {
      return error("dockerfile.language", "is " + std::string(language) + " but the repository "
                                              "root has no " + std::string(given->markers) +
                                              "; fix the language or leave it out to detect it");
    }
    return given;
  }
  const wizard::language* found = nullptr;
  std::vector<std::string> others;
  for (const auto* l : by_detection_rank()) {
    if (auto marker = l->find_marker(files)) {
      if (!found) {
        found = l;
      } else {
        others.push_back(*marker);
      }
    }
  }
  if (!found) {
    std::string looked;
    for (const auto* l : by_detection_rank()) {
      looked += std::string(looked.empty() ? "" : "; ") + std::string(l->markers) + " (" +
                std::string(l->name) + ")";
    }
    return error("dockerfile", "the wizard found no project it knows at the repository root; "
                               "it looks for " + looked +
                               ". Set dockerfile.language, or commit a Dockerfile");
  }
  if (!others.empty()) {
    notes.push_back("also found " + join(others, ", ") + "; set dockerfile.language to choose");
  }
  return found;
}

}  // namespace

const std::vector<wizard_image_field>& wizard_image_fields() {
  static const std::vector<wizard_image_field> fields = {
      {"node", &wizard_images::node},     {"python", &wizard_images::python},
      {"maven", &wizard_images::maven},   {"gradle", &wizard_images::gradle},
      {"java_runtime", &wizard_images::java_runtime}, {"go", &wizard_images::go},
      {"go_runtime", &wizard_images::go_runtime}};
  return fields;
}

const std::vector<wizard_language>& wizard_languages() {
  static const std::vector<wizard_language> all = [] {
    std::vector<wizard_language> out;
    for (const auto* l : wizard::languages()) {
      out.push_back({l->name, l->frameworks});
    }
    return out;
  }();
  return all;
}

std::optional<dockerfile_error> check_wizard_choice(std::string_view language,
                                                    std::string_view framework) {
  const wizard::language* lang = find_language(language);
  if (!language.empty() && !lang) {
    std::vector<std::string> names;
    for (const auto* l : wizard::languages()) {
      names.emplace_back(l->name);
    }
    return error("dockerfile.language", "must be " + one_of(names) + " (or absent: detected)");
  }
  if (framework.empty()) {
    return std::nullopt;
  }
  if (lang) {
    if (offers(*lang, framework)) {
      return std::nullopt;
    }
    std::vector<std::string> names(lang->frameworks.begin(), lang->frameworks.end());
    return error("dockerfile.framework", "for " + std::string(language) + " must be one of " +
                                             join(names, ", ") + " (or absent: detected)");
  }
  const auto& all = wizard::languages();
  if (std::any_of(all.begin(), all.end(), [&](const auto* l) { return offers(*l, framework); })) {
    return std::nullopt;
  }
  return error("dockerfile.framework",
               "must be one of " + all_frameworks() + " (or absent: detected)");
}

std::variant<wizard_output, dockerfile_error> generate_dockerfile(const repo_view& repo,
                                                                  std::string_view language,
                                                                  std::string_view framework,
                                                                  const wizard_images& images) {
  if (auto problem = check_wizard_choice(language, framework)) {
    return *problem;
  }
  for (const auto& field : wizard_image_fields()) {
    const std::string& image = images.*field.image;
    if (!image_reference(image)) {
      return error("dockerfile", "wizard base image " + json_string(image) +
                                     " is not an image reference (e.g. node:20.18-bookworm-slim)");
    }
  }
  const wizard::project_files files(repo);

  // A backend with a package.json for its front-end assets is still Go, Java or Python.
  std::vector<std::string> notes;
  auto chosen = choose_language(files, language, notes);
  if (auto* e = std::get_if<dockerfile_error>(&chosen)) {
    return *e;
  }
  const wizard::language& lang = *std::get<const wizard::language*>(chosen);
  if (!framework.empty() && !offers(lang, framework)) {
    return error("dockerfile.framework", "is " + std::string(framework) +
                                             " but the repository is a " +
                                             std::string(lang.name) +
                                             " project; fix the framework or leave it out");
  }

  auto generated = lang.generate(files, framework, images);
  if (auto* e = std::get_if<dockerfile_error>(&generated)) {
    return *e;
  }
  auto& g = std::get<wizard::language_output>(generated);
  notes.insert(notes.begin(), g.notes.begin(), g.notes.end());
  notes.insert(notes.end(), g.findings.begin(), g.findings.end());
  wizard_output out;
  out.dockerfile = std::move(g.dockerfile);
  out.dockerignore = std::move(g.dockerignore);
  out.language = std::string(lang.name);
  out.framework = std::move(g.framework);
  out.tool = std::move(g.tool);
  out.summary = g.summary + (notes.empty() ? "" : " (" + join(notes, "; ") + ")");
  return out;
}

}  // namespace kiwi
