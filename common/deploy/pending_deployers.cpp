// TEMPORARY (branch i16-history only): stands in for kubernetes_deployer.cpp, which the k8s
// branch adds, so that this branch links before it is merged (docker_deployer.cpp came with the
// merge of i16-docker). Delete this file when merging i16-k8s (a duplicate symbol at link time
// says so).
#include <stdexcept>

#include "common/deploy/deployer.hpp"

namespace kiwi {

std::unique_ptr<deployer> make_kubernetes_deployer(const runtime_config& runtime,
                                                   std::chrono::milliseconds) {
  throw std::runtime_error("runtime " + runtime.name + ": this build has no kubernetes deployer");
}

}  // namespace kiwi
