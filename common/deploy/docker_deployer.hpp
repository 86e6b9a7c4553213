#pragma once
// The Docker runtime's deployer (docs/deploy.md, "Docker runtime"): one revision is `replicas`
// containers named kiwi-<service>-<env>-r<revision>-<i>, labelled kiwi.service, kiwi.env,
// kiwi.deployment, kiwi.revision and kiwi.replica, which are how later calls find them. deploy():
//   1. removes what an earlier run of the same deployment_id left (a reclaimed deploy);
//   2. pulls the image by digest with the registry's credentials (X-Registry-Auth);
//   3. creates the replicas (env and secret_env, limits as NanoCpus/Memory, restart policy,
//      env.port published on 127.0.0.1);
//   4. starts them and waits until all are running and healthy (docker_readiness.hpp);
//   5. only then stops and removes the previous deployment's containers of (service, env).
// A failure removes the new containers and leaves the previous deployment running; the result
// has the failing container's exit code and last 20 log lines (secrets masked).
// With env.host_port fixed, two generations cannot hold the port at once: the previous
// deployment is stopped (not removed) just before the new replicas start, started again if
// they fail, and removed once they are healthy ("recreate"). Without it every replica gets an
// ephemeral port and the previous deployment serves until the new one is healthy.

#include <chrono>
#include <string_view>

#include "common/deploy/deployer.hpp"

namespace kiwi {

// registry/repository@sha256:<64 lowercase hex>: how images are always deployed.
bool is_digest_reference(std::string_view image);

class docker_deployer final : public deployer {
 public:
  docker_deployer(runtime_config runtime, std::chrono::milliseconds timeout)
      : runtime_(std::move(runtime)), timeout_(timeout) {}

  deploy_result deploy(const deploy_request& request,
                       const std::function<void(const deploy_progress&)>& progress) override;
  deployment_state inspect(const std::string& service, const std::string& environment) override;
  void remove(const std::string& service, const std::string& environment) override;

 private:
  runtime_config runtime_;
  std::chrono::milliseconds timeout_;  // each API call
};

}  // namespace kiwi
