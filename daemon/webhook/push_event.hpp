#pragma once
// A push (branch or tag) as GitHub and GitLab describe it in their webhook payloads, reduced to
// what Kiwi decides on. Each provider parses its own payload (github.hpp, gitlab.hpp); parsing
// is pure: body in, push_event or a message a person can act on.

#include <cstddef>
#include <string>
#include <variant>

#include "daemon/webhook/provider.hpp"

namespace kiwi::webhook {

struct push_event {
  git_provider provider = git_provider::github;
  std::string ref;           // "refs/heads/main" or "refs/tags/v1.2.0"
  std::string branch;        // "main" for a branch push, empty for a tag push
  std::string tag;           // "v1.2.0" for a tag push, empty for a branch push
  std::string before;        // 40-hex sha, all zeros for a new ref
  std::string after;         // 40-hex sha, all zeros for a deletion
  bool deleted = false;      // GitHub "deleted": true, or "after" all zeros
  bool skip_ci = false;      // at least one commit, and every commit message has [skip ci]/[ci skip]
  std::size_t commit_count = 0;
  std::string head_message;  // first line of the head commit's message, may be empty
  std::string pusher;        // GitHub pusher.name / GitLab user_username
  std::string repository;    // GitHub repository.full_name / GitLab project.path_with_namespace
};

// Error text for a body that is not JSON or lacks the fields of a push ("ref", "after", ...).
using push_parse_result = std::variant<push_event, std::string>;

}  // namespace kiwi::webhook
