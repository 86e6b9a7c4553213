#pragma once
// How the Kubernetes deployer reads what the cluster says about a rollout (kubernetes_deployer.
// cpp): the Deployment's status, by kubectl's algorithm (`kubectl rollout status`), and the
// pods' container states and events, turned into what the user must do. No I/O: unit tested on
// recorded API objects (tests/unit/kubernetes_deploy_test.cpp, tests/fixtures/k8s/).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kiwi {

// kubectl's rollout status of a Deployment:
// - generation ahead of status.observedGeneration: the controller has not seen the spec yet;
// - the Progressing condition with reason ProgressDeadlineExceeded: failed;
// - updatedReplicas < spec.replicas, replicas > updatedReplicas (old pods terminating),
//   availableReplicas < updatedReplicas: waiting; else rolled out.
struct kube_rollout {
  enum class phase { waiting, done, failed };
  phase what = phase::waiting;
  std::string message;  // kubectl's words: "Waiting for deployment \"x\" rollout to finish: ..."
  unsigned desired = 0;    // spec.replicas (1 when not set)
  unsigned updated = 0;    // status.updatedReplicas
  unsigned available = 0;  // status.availableReplicas
};
kube_rollout read_rollout(const nlohmann::json& deployment);

// What is wrong with one pod of the rollout, for the user.
struct kube_pod_problem {
  std::string pod;
  std::string container;
  std::string reason;      // ImagePullBackOff, CrashLoopBackOff, Unschedulable, ...
  std::string diagnostic;  // "pod x: ImagePullBackOff: ...: check the image path and ..."
  bool crash_loop = false; // its previous container's log says why (log?previous=true)
  std::optional<int> exit_code;  // of the last terminated container
  unsigned restarts = 0;
};

// The problems of the pods in `pods` (a PodList) that belong to revision `deployment_id` (their
// kiwi.dev/deployment annotation; pods without one count too), with the Warning events of
// `events` (an EventList) about them. `env_secret`: the Secret holding secret_env, named when a
// key is missing from it.
std::vector<kube_pod_problem> diagnose_pods(const nlohmann::json& pods,
                                            const nlohmann::json& events,
                                            std::string_view deployment_id,
                                            std::string_view env_secret);

// One line per pod for deployment_state::instances: "user-api-production-5d8f-x2k: running
// (ready)", "...: waiting (CrashLoopBackOff)", "...: pending (Unschedulable)".
std::vector<std::string> pod_lines(const nlohmann::json& pods);

// The pod's kiwi.dev/deployment annotation, or empty.
std::string pod_deployment_id(const nlohmann::json& pod);

}  // namespace kiwi
