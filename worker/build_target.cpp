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

}  // namespace

asio::awaitable<std::optional<build_target_error>> resolve_build_target(
    const kiwi_config& config, resource_store& store, const service_config& service,
    build_stage_request& request) {
  if (!service.registry.empty()) {
    const std::string missing = "registry \"" + service.registry +
                                "\" does not exist (deleted?): register it or change the "
                                "service's registry";
    auto lookup = [&] { return store.registry(service.registry); };
    const std::string what = "registry";
    const registry_config* configured = config.find_registry(service.registry);
    if (auto e = co_await named_resource(configured, lookup, what, missing, request.registry)) {
      co_return e;
    }
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

}  // namespace kiwi
