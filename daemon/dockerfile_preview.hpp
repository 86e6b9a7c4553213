#pragma once
// kiwid's Dockerfile preview (GET /api/v1/services/{name}/dockerfile/preview): which Dockerfile
// a build of a ref would use, or what the wizard would generate for it, read from a bare mirror
// kiwid keeps for previews (fetched incrementally with the service's credentials) through a
// git_tree_view, without a checkout. Blocking (libgit2): run it on a blocking pool.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

#include "common/build/dockerfile.hpp"
#include "common/git/git_mirror.hpp"
#include "common/security/redact.hpp"
#include "common/config/resources.hpp"

namespace kiwi {

struct dockerfile_preview_request {
  service_config service;  // URL, credentials and dockerfile settings; holds secrets
  // A branch or tag name, refs/heads/..., refs/tags/... or a full 40-hex commit id; empty: the
  // service's branch.
  std::string ref;
  // auto, path or wizard; empty: the service's mode, or wizard when language or framework is
  // given. (Mode none is the caller's to refuse: it builds nothing.)
  std::string mode;
  std::optional<std::string> language;  // overrides of the service's wizard choices
  std::optional<std::string> framework;
  wizard_images images;
  std::filesystem::path mirror_dir;  // data_dir/preview-mirrors/<service>.git
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  // the fetch's deadline
  std::size_t max_packs = git::default_max_packs;  // repack the mirror past this many packs
  redactor secrets;  // masked in everything shown (the service's and its registry's secrets)
};

struct dockerfile_preview {
  std::string ref;  // the full ref previewed (refs/heads/main); empty for a commit id
  std::string sha;  // the commit
  bool fetched = false;
  std::string mode;             // auto | path | wizard
  std::string dockerfile_path;  // as the build would use it ("Dockerfile", ".kiwi/Dockerfile")
  std::string context;
  std::string dockerfile;  // redacted; at most 256 KiB like the build record's copy
  // Mode wizard only.
  std::string dockerignore;              // the generated one
  bool repository_dockerignore = false;  // the repository has its own, which the build uses
  std::string generated_by;              // "node/express via npm (notes)"
  std::string language, framework, package_manager;
};

struct dockerfile_preview_error {
  // ref_not_found; the connection test's authentication, not_found, timeout, certificate,
  // host_key, other; dockerfile (the Dockerfile cannot be found or generated).
  std::string kind;
  std::string message;  // what the user reads: redacted, names the ref or the field to set
  std::string field;    // "ref", or the dockerfile field to change ("dockerfile.language")
  std::string ref;      // what was examined, when known
  std::string sha;
};

using dockerfile_preview_outcome = std::variant<dockerfile_preview, dockerfile_preview_error>;

dockerfile_preview_outcome preview_dockerfile(const dockerfile_preview_request& request);

}  // namespace kiwi
