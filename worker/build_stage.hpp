#pragma once
// The build stage: after the clone, find (or generate) the service's Dockerfile, work out the
// image tag from its tag rule, and build and push the image with the service's build backend.
// Blocking: the job runner runs it on the worker's blocking pool. Every line it reports has
// already been through the redactor of the service's secrets.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/build/dockerfile.hpp"
#include "common/config/resources.hpp"
#include "common/queue/retry_policy.hpp"
#include "worker/buildah_backend.hpp"

namespace kiwi {

struct build_stage_request {
  service_config service;
  kiwi::wizard_images wizard_images;        // mode wizard's base images (build.wizard_images)
  std::optional<registry_config> registry;  // the service's registry; nullopt: build only
  std::optional<runtime_config> runtime;    // a kubernetes runtime: Kaniko; nullopt: buildah
  std::string build_id;                     // names the Kaniko Job and the buildah build
  std::filesystem::path workspace;          // the checked-out commit
  std::string ref;                          // refs/heads/main or refs/tags/v1.2.0
  std::string sha;
  std::optional<std::uint64_t> build_number;
  std::chrono::system_clock::time_point started;  // ${TIMESTAMP}
  buildah_storage storage;
  build_network network;            // what RUN steps may reach (build.network)
  std::filesystem::path temp_root;  // private credential directories are made here
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::string_view line)> on_line;
};

struct build_stage_result {
  std::string dockerfile_path;     // relative to the checkout ("Dockerfile", ".kiwi/Dockerfile")
  std::string dockerfile;          // the Dockerfile used (stored with the build)
  std::string generated_by;        // wizard: "node/express via npm"; empty otherwise
  std::string tag;                 // from the tag rule
  std::string image;               // the reference built (and pushed): host/image:tag
  std::string digest;              // sha256:... of the pushed manifest; empty when not pushed
  std::string image_id;
};

struct build_stage_failure {
  std::string message;             // what the user reads (redacted)
  failure_kind kind = failure_kind::permanent;
  bool cancelled = false;
  std::vector<std::string> last_lines;  // the end of the output, for the failure event
};

using build_stage_outcome = std::variant<build_stage_result, build_stage_failure>;

build_stage_outcome run_build_stage(const build_stage_request& request);

// The push stage: pushes `image`, built by run_build_stage with buildah into request.storage,
// to request.registry. The result's digest is the pushed manifest's.
build_stage_outcome push_built_image(const build_stage_request& request, const std::string& image);

// The image reference for a service without a registry: built and kept in the worker's local
// storage only, under a name no registry resolves.
std::string local_image_name(std::string_view service, std::string_view tag);

}  // namespace kiwi
