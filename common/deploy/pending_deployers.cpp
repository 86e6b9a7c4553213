// TEMPORARY (branch i16-history only): stands in for docker_deployer.cpp and
// kubernetes_deployer.cpp, which the docker and k8s branches add, so that this branch links
// before they are merged. Delete this file when merging them (a duplicate symbol at link time
// says so).
#include <stdexcept>

#include "common/deploy/deployer.hpp"

namespace kiwi {

std::unique_ptr<deployer> make_docker_deployer(const runtime_config& runtime,
                                               std::chrono::milliseconds) {
  throw std::runtime_error("runtime " + runtime.name + ": this build has no docker deployer");
}

std::unique_ptr<deployer> make_kubernetes_deployer(const runtime_config& runtime,
                                                   std::chrono::milliseconds) {
  throw std::runtime_error("runtime " + runtime.name + ": this build has no kubernetes deployer");
}

}  // namespace kiwi
