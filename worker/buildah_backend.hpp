#pragma once
// The image build backend for a single machine: buildah builds the Dockerfile without a daemon
// (RUN steps under runc in their own namespaces, see build_network.hpp; layer cache in a local
// storage) and pushes the image with its own
// credentials file. Blocking: run it on the worker's blocking pool. docs/build-backends.md has
// the command lines and the failure messages.
//
// Credentials: an auth file (0600) in a private directory (0700) made for this one build and
// removed when it ends, whatever the outcome (unless the process itself is killed). buildah
// gets that directory as HOME, so credentials of the machine's user are never used, and a
// private registries.conf (short names resolve on docker.io; an insecure registry is marked
// insecure for pulls too). Every output line and message goes through a redactor for the
// registry password and request.secrets first.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/base/child_process.hpp"
#include "common/build/image_build.hpp"
#include "worker/build_network.hpp"

namespace kiwi {

// buildah's storage: images and the layer cache in root/storage, run-time state in root/run,
// large temporary files (TMPDIR) in root/tmp. overlay is fast and shares layers; vfs works on
// any file system but copies every layer in full.
struct buildah_storage {
  std::filesystem::path root;  // e.g. data_dir/buildah
  std::string driver = "overlay";
};

// {"buildah", "--root", ..., "--runroot", ..., "--storage-driver", ...}: buildah on storage.
std::vector<std::string> buildah_argv(const buildah_storage& storage);

struct buildah_build_request {
  std::string build_id;  // passed as --build-arg KIWI_BUILD_ID (the disk sweep finds its leftovers)
  std::filesystem::path workspace;                  // the checked-out repository
  std::filesystem::path dockerfile = "Dockerfile";  // relative to workspace
  std::filesystem::path context = ".";              // relative to workspace
  std::vector<std::string> references;  // host/image:tag to tag, and push (see registry)
  std::vector<std::pair<std::string, std::string>> build_args;  // visible in `ps`: no secrets
  std::optional<registry_credentials> registry;  // nullopt: build only, nothing is pushed
  bool push = true;  // false: run_buildah_build builds only (the push stage pushes later)
  buildah_storage storage;
  build_network network;  // what RUN steps may reach; the default: no network at all
  std::filesystem::path temp_root;   // where the private credentials directory is made;
                                     // empty: the system temp dir
  std::vector<std::string> secrets;  // more values to mask in output (tokens, secret args)
  // buildah retries a pull or push that failed on the network 3 times, this long apart
  // (buildah 1.28 ignores its --retry count; the delay is honoured).
  std::chrono::milliseconds retry_delay{2000};
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;           // set by another thread: stop within ~2 s
  std::chrono::milliseconds kill_grace{5000};          // after SIGTERM, before SIGKILL
  std::function<void(std::string_view line)> on_line;  // every output line, redacted
};

// Runs `buildah <storage options> args...` (2 minutes at most), its output lines into *lines
// when given.
child_result run_buildah(const buildah_storage& storage, const std::vector<std::string>& args,
                         std::vector<std::string>* lines);

// Removes every working container in the storage (`buildah rm --all`); their layers are freed.
// buildah removes its container when a build ends, also when it is cancelled during a RUN, but
// one stopped while it sets up a step can leave its container behind. Call this only while no
// build uses the storage (at worker start). Empty on success, else what went wrong.
std::string remove_build_containers(const buildah_storage& storage);

// Builds, tags every reference, and pushes each one when a registry is given. Never throws:
// failures come back as image_build_error with a message for the user and the last 20 lines.
image_build_outcome run_buildah_build(const buildah_build_request& request);

// Pushes every reference of an image already built into the storage (the push stage, after
// the scan): the digest of the first. The Dockerfile fields of the request are not used.
image_build_outcome run_buildah_push(const buildah_build_request& request);

}  // namespace kiwi
