#pragma once
// The pure half of the Kaniko backend: what Kiwi sends to the Kubernetes API (the Secret and the
// Job that build one image) and how it reads what comes back (the executor pod's state, log
// lines with timestamps, Status errors). No I/O here, so all of it is unit tested against
// recorded API objects (tests/unit/kaniko_job_test.cpp, tests/fixtures/k8s/).

#include <compare>
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

// What the build pod says about the build.
struct kaniko_pod_state {
  enum class phase {
    waiting,    // not scheduled or not started yet; keep polling
    running,    // the executor runs: follow its log
    succeeded,  // exit 0; digest from the termination message
    failed      // the build failed, or cannot start (message says why)
  };
  phase what = phase::waiting;
  std::string pod;                 // the pod's name
  std::string message;             // failed: for the user; waiting: why (Unschedulable ...)
  bool unschedulable = false;      // waiting because no node fits (fails after pending_timeout)
  bool oom_killed = false;         // failed: the kernel killed the executor for memory
  int exit_code = -1;
  std::string digest;              // succeeded: sha256:...
};

// Reads a Pod (or a PodList's first item) of the build's Job. `executor_image` is named in
// image-pull failures.
kaniko_pod_state read_kaniko_pod(const nlohmann::json& pod, std::string_view executor_image);

// Reads a Job's status: a Failed condition (DeadlineExceeded, BackoffLimitExceeded) when the pod
// is gone; nullopt while the Job has not failed.
std::optional<std::string> job_failure(const nlohmann::json& job);

// The message of a Kubernetes Status body ("jobs.batch \"x\" is forbidden: ..."), or empty.
std::string kube_status_message(std::string_view body);

// A log line requested with timestamps=true: "2024-09-12T06:22:28.123456789Z text".
struct log_time {
  std::int64_t seconds = 0;  // since the epoch
  std::int32_t nanos = 0;
  // clang-tidy 14 reports a defaulted <=> as a literal 0 for nullptr (fixed in later versions).
  // NOLINTNEXTLINE(modernize-use-nullptr)
  auto operator<=>(const log_time&) const = default;
};
struct timestamped_line {
  log_time at;
  std::string_view text;
};
// nullopt when the line does not start with an RFC 3339 timestamp and a space.
std::optional<timestamped_line> split_log_timestamp(std::string_view line);
// seconds → "2024-09-12T06:22:28Z" for sinceTime.
std::string rfc3339_seconds(std::int64_t seconds);

}  // namespace kiwi
