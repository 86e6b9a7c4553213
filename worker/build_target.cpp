#include "worker/build_target.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

// A registry or runtime a service names: the config file's, else the API's (in Redis).
template <class Resource, class Lookup>
asio::awaitable<std::optional<build_target_error>> named_resource(
    const Resource* configured, Lookup lookup, const std::string& what,
    const std::string& missing, std::optional<Resource>& out) {
  if (configured) {
    out = *configured;
    co_return std::nullopt;
  }
  auto [ec, found] = co_await lookup();
  if (ec) {
    co_return build_target_error{"cannot read the " + what + "'s settings (" + ec.message() + ")",
                                 failure_kind::transient};
  }
  if (!found) {
    co_return build_target_error{missing, failure_kind::permanent};
  }
  out = std::move(*found);
  co_return std::nullopt;
}

// The service's registry (none when it has none).
asio::awaitable<std::optional<build_target_error>> service_registry(
    const kiwi_config& config, resource_store& store, const service_config& service,
    std::optional<registry_config>& out) {
  if (service.registry.empty()) {
    co_return std::nullopt;
  }
  const std::string missing = "registry \"" + service.registry +
                              "\" does not exist (deleted?): register it or change the "
                              "service's registry";
  auto lookup = [&] { return store.registry(service.registry); };
  const std::string what = "registry";
  const registry_config* configured = config.find_registry(service.registry);
  co_return co_await named_resource(configured, lookup, what, missing, out);
}

}  // namespace

asio::awaitable<std::optional<build_target_error>> resolve_build_target(
    const kiwi_config& config, resource_store& store, const service_config& service,
    build_stage_request& request) {
  if (auto e = co_await service_registry(config, store, service, request.registry)) {
    co_return e;
  }
  if (service.build_runtime == "local") {
    co_return std::nullopt;
  }
  const std::string missing = "build_runtime \"" + service.build_runtime +
                              "\" does not exist (deleted?): register it or set the service's "
                              "build_runtime to local";
  auto lookup = [&] { return store.runtime(service.build_runtime); };
  const std::string what = "runtime";
  const runtime_config* configured = config.find_runtime(service.build_runtime);
  if (auto e = co_await named_resource(configured, lookup, what, missing, request.runtime)) {
    co_return e;
  }
  if (request.runtime->type != "kubernetes") {
    co_return build_target_error{"build_runtime \"" + service.build_runtime + "\" is a " +
                                     request.runtime->type +
                                     " runtime; builds run on kubernetes runtimes (Kaniko) or "
                                     "local (buildah)",
                                 failure_kind::permanent};
  }
  co_return std::nullopt;
}

asio::awaitable<std::optional<build_target_error>> resolve_deploy_target(
    const kiwi_config& config, resource_store& store, const service_config& service,
    const environment_config& environment, deploy_target& out) {
  if (auto e = co_await service_registry(config, store, service, out.registry)) {
    co_return e;
  }
  const std::string missing = "runtime \"" + environment.runtime + "\" of environment " +
                              environment.name + " does not exist (deleted?): register it or "
                              "change the environment's runtime";
  auto lookup = [&] { return store.runtime(environment.runtime); };
  const std::string what = "runtime";
  const runtime_config* configured = config.find_runtime(environment.runtime);
  co_return co_await named_resource(configured, lookup, what, missing, out.runtime);
}

}  // namespace kiwi
