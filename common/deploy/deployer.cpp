#include "common/deploy/deployer.hpp"

#include <stdexcept>

namespace kiwi {

std::unique_ptr<deployer> make_deployer(const runtime_config& runtime,
                                        std::chrono::milliseconds timeout) {
  if (runtime.type == "docker") return make_docker_deployer(runtime, timeout);
  if (runtime.type == "kubernetes") return make_kubernetes_deployer(runtime, timeout);
  throw std::invalid_argument("runtime " + runtime.name + " has unknown type " + runtime.type);
}

}  // namespace kiwi
