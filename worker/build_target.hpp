#pragma once
// Where a build pushes (the service's registry) and where it runs (local buildah, or Kaniko on
// the Kubernetes runtime its build_runtime names): the config file's resources, else those
// registered through the API (in Redis).

#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/base/failure_kind.hpp"
#include "common/config/config.hpp"
#include "common/store/resource_store.hpp"
#include "worker/build_stage.hpp"

namespace kiwi {

struct build_target_error {
  std::string message;
  failure_kind kind = failure_kind::permanent;  // transient: Redis could not be read
};

// Fills request.registry and request.runtime; an error names the missing or unusable resource.
boost::asio::awaitable<std::optional<build_target_error>> resolve_build_target(
    const kiwi_config& config, resource_store& store, const service_config& service,
    build_stage_request& request);

// Where a deploy to `environment` runs (its runtime) and pulls from (the service's registry).
struct deploy_target {
  std::optional<runtime_config> runtime;
  std::optional<registry_config> registry;
};
boost::asio::awaitable<std::optional<build_target_error>> resolve_deploy_target(
    const kiwi_config& config, resource_store& store, const service_config& service,
    const environment_config& environment, deploy_target& out);

}  // namespace kiwi
