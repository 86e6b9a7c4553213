#pragma once
// How Kiwi reads what the Kubernetes API says about a Kaniko build: the executor pod's state,
// the Job's failure, and Status errors. No I/O, unit tested against recorded API objects
// (tests/unit/kaniko_job_test.cpp, tests/fixtures/k8s/).

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kiwi {

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

}  // namespace kiwi
