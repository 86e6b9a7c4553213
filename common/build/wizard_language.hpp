#pragma once
// The Dockerfile wizard's one interface for a language (internal to common/build/). Each
// language lives in its own file, wizard_<name>.cpp, and defines one `language`: how to tell a
// repository is one of its projects, which frameworks it offers, and how to write the Dockerfile
// and .dockerignore. dockerfile_wizard.cpp holds the registry (one line per language), picks the
// language and checks the choices; the language detects the rest (tool, framework, start
// command) and renders. Adding a language: a new wizard_<name>.cpp and its registry line
// (docs/build.md, "Adding a language").

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/build/dockerfile.hpp"
#include "common/git/repo_view.hpp"

namespace kiwi::wizard {

// Manifests and sources the wizard reads; larger files are treated as unreadable.
inline constexpr std::size_t manifest_limit = 1024 * 1024;

// UIDs of the runtime stages' users: numeric, so that Kubernetes' runAsNonRoot can verify them.
inline constexpr std::string_view app_user = "10001:10001";  // created by the generated Dockerfile

// The repository as the wizard sees it: the file list once, reads capped.
class project_files {
 public:
  explicit project_files(const repo_view& repo);
  bool has(std::string_view path) const { return files_.contains(std::string(path)); }
  bool has_dir(std::string_view dir) const;
  std::optional<std::string> read(std::string_view path) const {
    return repo_.read(path, manifest_limit);
  }
  const std::set<std::string>& all() const { return files_; }

 private:
  const repo_view& repo_;
  std::set<std::string> files_;
};

// What a language made of a repository.
struct language_output {
  std::string framework;  // one of the language's frameworks
  std::string tool;       // npm | yarn | pnpm | pip | poetry | maven | gradle | go
  std::string summary;    // "node/express via npm": the Dockerfile's header and the build log
  std::string dockerfile;
  std::string dockerignore;
  std::vector<std::string> notes;     // about the generated files; first in the summary
  std::vector<std::string> findings;  // about the repository; after the wizard's own
};

struct language {
  std::string_view name;                      // the dockerfile.language value: "node"
  std::vector<std::string_view> frameworks;   // its dockerfile.framework values
  // Without dockerfile.language the languages are tried lowest rank first, so that a back-end
  // with a package.json for its front-end assets is still Go, Java or Python.
  int detection_rank = 0;
  std::string_view markers;  // what find_marker looks for, in words: "package.json"
  // The root file that makes the repository one of this language's projects, or nullopt.
  std::optional<std::string> (*find_marker)(const project_files& files) = nullptr;
  // Detects what is not given (framework may be empty; when given it is one of `frameworks`,
  // still to be checked against the repository) and writes the files. The base images are valid
  // image references.
  std::variant<language_output, dockerfile_error> (*generate)(
      const project_files& files, std::string_view framework,
      const wizard_images& images) = nullptr;
};

// The registry: every language, in the order docs and messages list them (dockerfile_wizard.cpp).
const std::vector<const language*>& languages();

// The languages, one file each.
const language& node_language();
const language& python_language();
const language& java_language();
const language& go_language();

// Helpers the languages share (wizard_language.cpp).

dockerfile_error error(std::string field, std::string message);

// The generated Dockerfile's first lines: what generated it and how to replace it.
std::string header(std::string_view summary);
// The generated .dockerignore's first lines: a header and the entries every one starts with
// (VCS data, the build files themselves, local secrets).
std::string common_ignores();

// ["node", "a b.js"] → `["node", "a b.js"]`
std::string exec_form(const std::vector<std::string>& args);

// Characters safe to put unquoted in a Dockerfile line and a shell command.
bool plain_path(std::string_view s);

// An owned copy without surrounding white space.
std::string trimmed(std::string_view s);

// The lines of a text, without their "\n" or "\r\n".
std::vector<std::string> lines_of(std::string_view text);

}  // namespace kiwi::wizard
