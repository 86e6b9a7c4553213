// Where the repository's own Dockerfile is: mode auto (the root Dockerfile) and mode path (a
// file and a context that stay inside the checkout), over a repo_view or the checkout itself.

#include <algorithm>
#include <system_error>

#include "common/base/text.hpp"
#include "common/build/dockerfile.hpp"
#include "common/build/dockerfile_text.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;
using namespace dockerfile_text;

constexpr std::size_t listed_dockerfiles = 10;

dockerfile_error error(std::string field, std::string message) {
  return {std::move(field), std::move(message)};
}

bool is_dockerfile_name(std::string_view name) {
  const std::string n = to_lower_ascii(name);
  return n == "dockerfile" || n.ends_with(".dockerfile") || n.starts_with("dockerfile.");
}

// "a, b, c (and 4 more)"
std::string list_some(const std::vector<std::string>& items) {
  std::vector<std::string> shown(items.begin(),
                                 items.begin() + std::min(items.size(), listed_dockerfiles));
  std::string out = join(shown, ", ");
  if (items.size() > shown.size()) {
    out += " (and " + std::to_string(items.size() - shown.size()) + " more)";
  }
  return out;
}

std::string field_example(bool directory) {
  return directory ? "e.g. \".\" or \"services/api\"" : "e.g. \"docker/Dockerfile\"";
}

// dockerfile.path or dockerfile.context as a normalised relative path ("." for the root), or
// the error when it is empty (path only), absolute or climbs out with "..".
std::variant<std::string, dockerfile_error> relative_field(std::string_view value,
                                                           const std::string& field,
                                                           bool directory) {
  const std::string example = field_example(directory);
  if (value.empty() && !directory) {
    return error(field, "is required: the Dockerfile's path in the repository, " + example);
  }
  if (value.empty()) {
    value = ".";
  }
  if (value.find('\0') != std::string_view::npos || value.front() == '/') {
    return error(field, "must be a path relative to the repository, " + example);
  }
  const fs::path relative(value);
  for (const auto& part : relative) {
    if (part == "..") {
      return error(field, "must stay inside the repository (no \"..\"), " + example);
    }
  }
  std::string normal = relative.lexically_normal().generic_string();
  while (normal.size() > 1 && normal.back() == '/') {
    normal.pop_back();
  }
  return normal;
}

dockerfile_error missing_dockerfile(const std::string& field, const std::string& shown,
                                    const std::vector<std::string>& found) {
  return error(field, shown + " does not exist in the repository" +
                          (found.empty() ? std::string("; it has no Dockerfile at all")
                                         : "; Dockerfiles found: " + list_some(found)));
}

}  // namespace

std::vector<std::string> find_dockerfiles(const repo_view& repo) {
  std::vector<std::string> found;
  for (auto& f : repo.files()) {
    if (is_dockerfile_name(basename(f))) {
      found.push_back(std::move(f));
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return depth(a) < depth(b); });
  return found;
}

std::variant<dockerfile_location, dockerfile_error> locate_root_dockerfile(const repo_view& repo) {
  auto found = find_dockerfiles(repo);
  if (std::find(found.begin(), found.end(), "Dockerfile") != found.end()) {
    return dockerfile_location{"Dockerfile", "."};
  }
  if (found.empty()) {
    return error("dockerfile", "no Dockerfile in the repository: commit one at the root, or set "
                               "\"dockerfile\": {\"mode\":\"wizard\"} to generate one (Node.js, "
                               "Python, Java, Go)");
  }
  return error("dockerfile", "no Dockerfile at the repository root; found " + list_some(found) +
                                 ". Set \"dockerfile\": {\"mode\":\"path\",\"path\":" +
                                 json_string(found.front()) +
                                 "} to build one of these, or {\"mode\":\"wizard\"} to generate "
                                 "one");
}

std::variant<dockerfile_location, dockerfile_error> resolve_dockerfile_path(
    const fs::path& checkout, std::string_view path, std::string_view context) {
  std::error_code ec;
  const fs::path root = fs::canonical(checkout, ec);
  if (ec) {
    return error("dockerfile",
                 "the checkout " + checkout.string() + " is missing: " + ec.message());
  }
  auto inside = [&](const fs::path& p) {
    return std::mismatch(root.begin(), root.end(), p.begin(), p.end()).first == root.end();
  };
  // Checks one field and returns its normalised relative form, or the error.
  auto check = [&](std::string_view value, const std::string& field,
                   bool directory) -> std::variant<std::string, dockerfile_error> {
    auto lexical = relative_field(value, field, directory);
    if (std::holds_alternative<dockerfile_error>(lexical)) {
      return lexical;
    }
    const std::string& normal = std::get<std::string>(lexical);
    const std::string example = field_example(directory);
    if (value.empty()) {
      value = ".";
    }
    const fs::path full = root / fs::path(value);
    const std::string shown = json_string(value);
    std::error_code link_ec;
    if (!fs::exists(fs::symlink_status(full, link_ec))) {
      if (directory) {
        return error(field, shown + " is not a folder in the repository; " + example);
      }
      return missing_dockerfile(field, shown, find_dockerfiles(directory_view(root)));
    }
    std::error_code resolve_ec;
    const fs::path target = fs::canonical(full, resolve_ec);
    if (resolve_ec) {
      return error(field, shown + " is a symbolic link to nothing; point it at a file in the "
                                  "repository");
    }
    if (!inside(target)) {
      return error(field, shown + " leads outside the repository through a symbolic link (on "
                                  "it or a folder above it); use a path to a real " +
                              (directory ? "folder" : "file") + " in the repository");
    }
    if (directory && !fs::is_directory(target)) {
      return error(field, shown + " is a file; the build context must be a folder, " + example);
    }
    if (!directory && !fs::is_regular_file(target)) {
      return error(field, shown + " is not a file; name the Dockerfile itself, " + example);
    }
    return normal;
  };
  auto file = check(path, "dockerfile.path", false);
  if (auto* e = std::get_if<dockerfile_error>(&file)) {
    return *e;
  }
  auto dir = check(context, "dockerfile.context", true);
  if (auto* e = std::get_if<dockerfile_error>(&dir)) {
    return *e;
  }
  return dockerfile_location{std::get<std::string>(file), std::get<std::string>(dir)};
}

std::variant<dockerfile_location, dockerfile_error> resolve_dockerfile_path(
    const repo_view& repo, std::string_view path, std::string_view context) {
  auto file = relative_field(path, "dockerfile.path", false);
  if (auto* e = std::get_if<dockerfile_error>(&file)) {
    return *e;
  }
  auto dir = relative_field(context, "dockerfile.context", true);
  if (auto* e = std::get_if<dockerfile_error>(&dir)) {
    return *e;
  }
  const std::string& file_path = std::get<std::string>(file);
  const std::string& dir_path = std::get<std::string>(dir);
  const std::vector<std::string> all = repo.files();
  if (!std::binary_search(all.begin(), all.end(), file_path)) {
    const bool is_folder = std::any_of(all.begin(), all.end(), [&](const std::string& f) {
      return f.starts_with(file_path + "/");
    });
    if (is_folder) {
      return error("dockerfile.path", json_string(path) + " is not a file; name the Dockerfile "
                                                          "itself, " + field_example(false));
    }
    return missing_dockerfile("dockerfile.path", json_string(path), find_dockerfiles(repo));
  }
  if (dir_path != ".") {
    const bool is_folder = std::any_of(all.begin(), all.end(), [&](const std::string& f) {
      return f.starts_with(dir_path + "/");
    });
    if (!is_folder) {
      return error("dockerfile.context",
                   json_string(context) +
                       (std::binary_search(all.begin(), all.end(), dir_path)
                            ? " is a file; the build context must be a folder, "
                            : " is not a folder in the repository; ") +
                       field_example(true));
    }
  }
  return dockerfile_location{file_path, dir_path};
}

}  // namespace kiwi
