#pragma once
// The pure half of the Kaniko backend, what Kiwi sends to the Kubernetes API: the Secret and the
// Job that build one image. How it reads what comes back is in kaniko_pod.hpp (pod and Job
// state, Status errors) and log_timestamp.hpp. No I/O here, so all of it is unit tested against
// recorded API objects (tests/unit/kaniko_job_test.cpp, tests/fixtures/k8s/).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/resources.hpp"
#include "common/build/image_build.hpp"

namespace kiwi {

// The name of the container that runs the executor in the build pod.
inline constexpr std::string_view kaniko_container = "kaniko";
// Where the Secret is mounted in the pod: config.json for the registry, and a generated
// Dockerfile when the wizard made one.
inline constexpr std::string_view kaniko_docker_dir = "/kaniko/.docker";
inline constexpr std::string_view kaniko_dockerfile_dir = "/kiwi";

// What the build pod clones: the repository's URL without credentials, the pushed ref and the
// exact commit. An init container clones it (with the token, mounted into that container only)
// into a volume the executor reads as a dir:// context, so no RUN step can see a git credential.
// Over https (http when `plain_http`); ssh URLs are not supported by Kiwi's Kaniko builds.
struct kaniko_git_context {
  std::string url;  // https://gitlab.example.com/team/app.git
  std::string ref;  // refs/heads/main
  std::string sha;
  bool plain_http = false;
};
std::variant<kaniko_git_context, std::string> make_kaniko_git_context(std::string_view git_url,
                                                                     std::string_view ref,
                                                                     std::string_view sha);

// The init container that clones the build context, and where the context lands.
inline constexpr std::string_view kaniko_clone_container = "clone";
inline constexpr std::string_view kaniko_workspace_dir = "/workspace";

// One Kaniko build as Kiwi asks the cluster for it.
struct kaniko_job_spec {
  std::string name;  // the Job and Secret name: kiwi-build-<build id>
  std::string namespace_;
  std::string build_id;
  std::string service;
  kaniko_git_context git;
  // Into the Secret as a git credential store file, mounted into the clone container only;
  // empty token: anonymous clone.
  std::string git_username, git_token;
  std::string dockerfile;               // --dockerfile, relative to the context or absolute
  std::string context_sub_path;         // --context-sub-path; empty: the repository root
  std::optional<std::string> generated_dockerfile;  // the wizard's, mounted from the Secret
  std::vector<std::string> destinations;            // host/image:tag
  std::string cache_repo;                           // host/image/cache; empty: no cache
  std::vector<std::pair<std::string, std::string>> build_args;
  std::optional<registry_credentials> registry;
  std::int64_t active_deadline_s = 1800;
};

// The job name for a build: DNS-1123, at most 63 characters (it becomes a pod label).
std::string kaniko_job_name(std::string_view build_id);

// config.json for Kaniko (the Docker CLI format): {"auths": {"host": {"auth": base64}}}.
std::string docker_config_json(const std::optional<registry_credentials>& registry);

nlohmann::json kaniko_secret_manifest(const kaniko_job_spec& spec);
nlohmann::json kaniko_job_manifest(const kaniko_job_spec& spec, const kaniko_settings& settings);

// The git credential store line for the Secret: https://user:token@host (both %-encoded).
std::string git_credentials_line(const kaniko_job_spec& spec);

// The executor's command line (the container's args), as kaniko_job_manifest puts it.
std::vector<std::string> kaniko_args(const kaniko_job_spec& spec);

}  // namespace kiwi
