#pragma once
// The build stage's Dockerfile: found at the repository root (mode auto), named by the service
// (mode path, kept inside the checkout), or generated from the repository's manifests (mode
// wizard) for Node.js, Python, Java and Go (docs/build.md). Pure logic over a repo_view (or, for
// mode path, the checkout directory); failures are values naming the service field to fix.
// Modes auto and path: dockerfile_location.cpp. Mode wizard: dockerfile_wizard.cpp, one file per
// language behind wizard_language.hpp.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/git/repo_view.hpp"

namespace kiwi {

struct dockerfile_error {
  std::string field;    // "dockerfile", "dockerfile.path", "dockerfile.context",
                        // "dockerfile.language" or "dockerfile.framework"
  std::string message;  // what is wrong and what to change
};

// Where the Dockerfile and the build context are, relative to the checkout and normalised
// ("docker/api.Dockerfile", "." for the root).
struct dockerfile_location {
  std::string path;
  std::string context;
};

// Files named like Dockerfiles (Dockerfile, *.Dockerfile, Dockerfile.*, any case), shallowest
// first, then in path order.
std::vector<std::string> find_dockerfiles(const repo_view& repo);

// Mode auto: the root Dockerfile with the root as context. Without one, the error lists the
// Dockerfiles found elsewhere (at most 10) and the "dockerfile" setting that would use the first,
// or suggests mode wizard.
std::variant<dockerfile_location, dockerfile_error> locate_root_dockerfile(const repo_view& repo);

// Mode path: path (a file) and context (a directory; empty means ".") must lie inside the
// checkout: no absolute path, no "..", and no symbolic link, on the file or any parent directory,
// that leads out of it. A missing file lists the Dockerfiles that do exist.
std::variant<dockerfile_location, dockerfile_error> resolve_dockerfile_path(
    const std::filesystem::path& checkout, std::string_view path, std::string_view context);

// Mode path over a view, for kiwid's preview, which has no checkout: the same checks of the
// values (relative, no ".."), then path must be a file of the view and context a folder holding
// some of its files. Views show no symbolic links, so a Dockerfile reached through one is
// reported missing here although the build, which resolves links that stay inside, uses it.
std::variant<dockerfile_location, dockerfile_error> resolve_dockerfile_path(
    const repo_view& repo, std::string_view path, std::string_view context);

// Mode wizard. Base images are pinned by tag; override any of them, e.g. with a digest
// ("node:20.18-bookworm-slim@sha256:...") to pin the exact bytes. Each must be one image
// reference without spaces.
struct wizard_images {
  std::string node = "node:20.18-bookworm-slim";               // build and run
  std::string python = "python:3.12.8-slim-bookworm";          // build and run
  std::string maven = "maven:3.9.9-eclipse-temurin-21";        // build
  std::string gradle = "gradle:8.10.2-jdk21";                  // build
  std::string java_runtime = "eclipse-temurin:21.0.5_11-jre-jammy";
  std::string go = "golang:1.23.4-bookworm";                   // build
  std::string go_runtime = "gcr.io/distroless/static-debian12:nonroot";
};

// wizard_images' fields by their key in the configuration (build.wizard_images.<key>).
struct wizard_image_field {
  std::string_view key;  // "node", "java_runtime"
  std::string wizard_images::*image;
};
const std::vector<wizard_image_field>& wizard_image_fields();

// The languages and, for each, the frameworks the wizard supports. "plain" is a Node.js or Go
// program without a framework the wizard knows about.
struct wizard_language {
  std::string_view name;
  std::vector<std::string_view> frameworks;
};
const std::vector<wizard_language>& wizard_languages();

// Validates a service's wizard choices when it is saved (either may be empty: detected).
std::optional<dockerfile_error> check_wizard_choice(std::string_view language,
                                                    std::string_view framework);

struct wizard_output {
  std::string dockerfile;
  std::string dockerignore;
  std::string language;   // node | python | java | go
  std::string framework;  // plain | express | nextjs | nestjs | flask | fastapi | django |
                          // spring-boot
  std::string tool;       // npm | yarn | pnpm | pip | poetry | maven | gradle | go
  std::string summary;    // for the build log: "node/express via npm"
};

// Detects what is not given (language and framework may be empty) and generates a multi-stage
// Dockerfile and its .dockerignore. A given choice the repository contradicts (language go
// without go.mod) is an error naming that field; so is a repository the wizard cannot read.
std::variant<wizard_output, dockerfile_error> generate_dockerfile(
    const repo_view& repo, std::string_view language, std::string_view framework,
    const wizard_images& images = {});

}  // namespace kiwi
