#pragma once
// The image build backend for Kubernetes: Kiwi asks the cluster's API server (HTTPS with the
// runtime's bearer token and CA, common/http/http_client) for one Secret (the registry's config.json,
// the git token, a generated Dockerfile) and one Job running the Kaniko executor with a git
// build context at the exact commit. It follows the executor pod's log into the build log, reads
// the pushed digest from the container's termination message, and deletes the Job (with its
// pod) and the Secret when the build ends: success, failure, cancel or deadline.
// docs/build-backends.md has the manifests, the RBAC the runtime's account needs, and the
// failure messages. Blocking: run it on the worker's blocking pool.
//
// No Kubernetes API server can run on Kiwi's machines: this backend is tested against the stub
// API server in tests/support/k8s_stub.py, which serves recorded real API objects.

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/resources.hpp"
#include "common/build/image_build.hpp"
#include "common/kubernetes/kaniko_job.hpp"

namespace kiwi {

struct kaniko_build_request {
  runtime_config runtime;            // type kubernetes: api_url, ca_cert, token, namespace, kaniko
  kaniko_job_spec spec;              // name, namespace and everything the Job needs
  std::vector<std::string> secrets;  // more values to mask (the registry password and git token
                                     // are masked anyway)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;  // set by another thread: stop within ~2 s
  // How long a quiet log stream is held before Kiwi looks at the pod again (and at cancel).
  std::chrono::milliseconds log_idle{1000};
  std::function<void(std::string_view line)> on_line;  // every log line, redacted
};

// Never throws: failures come back as image_build_error with a message for the user and the
// last 20 lines of the executor's log (read by classify_kaniko_failure, kaniko_failure.hpp).
image_build_outcome run_kaniko_build(const kaniko_build_request& request);

}  // namespace kiwi
