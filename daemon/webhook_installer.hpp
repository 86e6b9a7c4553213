#pragma once
// Creates (or updates) a service's push webhook on GitHub or GitLab through their REST APIs,
// with the service's own token: the "Install webhook" button. Blocking (HTTP): kiwid runs it on
// its blocking pool. docs/api.md describes the calls and the messages.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kiwi {

// Which forge API manages a repository's hooks.
struct forge_target {
  std::string provider;  // github | gitlab
  std::string api_url;   // https://api.github.com, https://gitlab.com/api/v4, ...
  std::string project;   // owner/repo (GitHub) or group/subgroup/project (GitLab)
};

// From the service's git URL, unless `provider` / `api_url` say otherwise (self-hosted GitHub
// Enterprise or GitLab, whose host names Kiwi cannot recognise). github.com and gitlab.com, and
// hosts whose name contains "github" or "gitlab", are recognised. Throws field_error naming
// "provider", "api_url" or "git_url" with what to give.
forge_target forge_target_for(std::string_view git_url, std::string_view provider,
                              std::string_view api_url);

struct webhook_install_request {
  forge_target target;
  std::string token;        // the service's personal access token
  std::string payload_url;  // https://kiwi.example.com/hooks/github/<service>
  std::string secret;       // the service's webhook secret
  std::string branch;       // GitLab: push events of this branch only
  bool tag_pushes = false;  // also tag pushes (the service's build_tags)
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

struct webhook_install_result {
  bool ok = false;
  std::string action;  // created | updated
  std::string hook_id;
  // On failure: what to fix (token scope, role, URL), never the token or the secret.
  std::string error;
  bool upstream_unreachable = false;  // the forge could not be reached or answered 5xx
};

webhook_install_result install_webhook(const webhook_install_request& request);

}  // namespace kiwi
