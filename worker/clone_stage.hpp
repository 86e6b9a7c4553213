#pragma once
// The clone stage: keep one bare mirror per service, fetch into it incrementally, and check out
// the exact pushed commit into a per-build workspace. Blocking (libgit2): run it on the worker's
// blocking pool, never on an I/O thread.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "common/git/git_mirror.hpp"

namespace kiwi {

struct clone_request {
  std::string service;
  std::string git_url;    // https, http, git://, ssh or file://
  std::string branch;     // the branch the commit must be on (empty for a tag build)
  std::string ref;        // the pushed ref, e.g. refs/heads/main or refs/tags/v1
  std::string sha;        // 40-hex commit to check out
  std::string username;   // https user for the token ("oauth2" GitLab, "x-access-token" GitHub)
  std::string token;      // empty: anonymous
  std::string ssh_key;    // ssh: ed25519 private key (OpenSSH format); empty: none
  std::string ssh_known_hosts;  // ssh: pinned host keys; empty: accept the key and log it
  std::filesystem::path mirror_dir;  // data_dir/mirrors/<service>.git
  std::filesystem::path workspace;   // data_dir/workspaces/<build_id>; must not exist yet
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // libgit2 adds a pack to the mirror per fetch and never repacks. After a fetch that leaves
  // more packs than this, `git repack -a -d` merges them (when git is installed; 0: never).
  std::size_t repack_after_packs = git::default_max_packs;
  const std::atomic<bool>* cancel = nullptr;          // set by another thread to abort
  std::function<void(std::string_view line)> on_progress;  // throttled, never sees a secret
};

struct clone_result {
  std::string sha;           // the commit checked out
  std::string tree;          // its tree id
  std::size_t files = 0;     // files written to the workspace
  bool fetched = false;      // false when the mirror already had the commit
};

enum class clone_errc {
  authentication_failed,
  repository_not_found,
  connection_timeout,
  certificate_invalid,
  commit_not_found,
  host_denied,  // git.allowed_hosts / git.denied_hosts refuse the host: permanent
  cancelled,
  other
};

struct clone_error {
  clone_errc code;  // an ssh host key mismatch is certificate_invalid
  std::string message;  // what the user reads; never contains the token or the key
};

using clone_outcome = std::variant<clone_result, clone_error>;

clone_outcome run_clone(const clone_request& request);

}  // namespace kiwi
