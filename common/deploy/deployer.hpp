#pragma once
// Running an image on a runtime: one interface, one implementation per runtime type (docker:
// docker_deployer.cpp, kubernetes: kubernetes_deployer.cpp). docs/deploy.md describes what each
// does. A deployer is blocking (the worker runs it on its blocking pool), holds no state between
// calls, and never writes a secret (registry password, secret_env values, runtime token) into a
// message, a progress report or anything it returns.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/failure_kind.hpp"
#include "common/config/resources.hpp"

namespace kiwi {

// One revision to run: its image (always by digest) and the environment's config as it was
// recorded in the revision (secret_env values opened, in clear, only in memory).
struct deploy_request {
  std::string service;
  std::string environment;    // the environment's name (env.name)
  std::string deployment_id;  // the revision's id: label kiwi.deployment / annotation kiwi.dev/deployment
  unsigned long long revision = 0;  // per (service, environment), from 1
  std::string image;          // registry/repository@sha256:<64 hex>
  environment_config env;
  std::optional<registry_config> registry;  // pull credentials; none: anonymous pull
};

// Reported while waiting for the new replicas: becomes a deploy.progress event.
struct deploy_progress {
  unsigned ready = 0;
  unsigned desired = 0;
  std::string message;     // "1/2 replicas ready"
  std::string diagnostic;  // what is wrong and what to do, e.g. "ImagePullBackOff: ..."; may be empty
};

struct deploy_result {
  bool succeeded = false;
  // succeeded: "2/2 replicas running (http://127.0.0.1:40123/)"; failed: what went wrong and
  // what to do about it, naming the image, the container or pod, never a secret.
  std::string message;
  failure_kind kind = failure_kind::permanent;  // transient: the runtime could not be reached
  std::vector<std::string> diagnostics;  // word for word what the user needs (CrashLoopBackOff ...)
  std::vector<std::string> log_tail;     // failed: the last 20 log lines of the failing container
  std::optional<int> exit_code;          // failed: the failing container's last exit code
  std::string url;                       // where the service answers, when known
};

// What runs now for one (service, environment).
struct deployment_state {
  std::string deployment_id;  // of the running revision; empty: nothing deployed
  std::string image;
  unsigned ready = 0;
  unsigned desired = 0;
  std::vector<std::string> instances;  // "kiwi-user-api-development-1a2b: running (healthy)"
  std::string url;
};

class deployer {
 public:
  virtual ~deployer() = default;

  // Runs `request`, waits until its replicas are running and healthy (env.deadline_s), and only
  // then retires the previous deployment of (service, environment). On failure, removes what
  // this deploy created and leaves the previous deployment running. Running the same
  // deployment_id again (a deploy reclaimed from a dead worker) is safe: what a half-done run
  // left is found by its labels and replaced.
  virtual deploy_result deploy(const deploy_request& request,
                               const std::function<void(const deploy_progress&)>& progress) = 0;

  // What runs now for (service, environment).
  virtual deployment_state inspect(const std::string& service, const std::string& environment) = 0;

  // Removes everything deployed for (service, environment).
  virtual void remove(const std::string& service, const std::string& environment) = 0;
};

// The deployer of a runtime resource (type docker or kubernetes). `timeout` bounds each API call.
std::unique_ptr<deployer> make_deployer(const runtime_config& runtime,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The implementations (docker_deployer.cpp, kubernetes_deployer.cpp).
std::unique_ptr<deployer> make_docker_deployer(const runtime_config& runtime,
                                               std::chrono::milliseconds timeout);
std::unique_ptr<deployer> make_kubernetes_deployer(const runtime_config& runtime,
                                                   std::chrono::milliseconds timeout);

}  // namespace kiwi
