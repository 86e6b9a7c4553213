#pragma once
// The disk sweep's decisions, without I/O (docs/build-backends.md, "Disk use and the sweep").
// A worker killed mid-build (SIGKILL, OOM, power) leaves behind what its build was using:
// buildah's working containers with their overlay mounts, the orphaned buildah process that
// still holds them, and the workspace. Several workers may share one data directory, so a
// leftover may go only when the build it belongs to is over: Redis holds no lease for it and
// it will not run again. Every buildah build carries its build id (the build argument
// KIWI_BUILD_ID, recorded in each working container's buildah.json and visible on buildah's
// command line); a workspace is named workspaces/<build_id>. Mirrors of services that are no
// longer configured nor stored go too, and dangling images are pruned while no build uses the
// storage. sweep_disk.hpp lists and removes; the sweeper asks Redis and runs the schedule.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kiwi {

// The build argument naming a buildah build's build id.
inline constexpr std::string_view build_id_arg = "KIWI_BUILD_ID";

// A buildah working container in the worker's storage.
struct stored_container {
  std::string id;
  std::string build_id;     // empty: not made by a Kiwi build (left alone)
  std::uint64_t bytes = 0;  // what its own layer holds
};

// A running buildah process on the worker's storage.
struct build_process {
  int pid = 0;
  std::string build_id;  // empty: not a Kiwi build (an admin's buildah, a push): left alone
  bool orphan = false;   // its kiwi-worker is gone (its parent is no kiwi-worker any more)
};

// What lies on disk now.
struct disk_survey {
  std::vector<std::string> workspaces;  // build ids of workspaces/<build_id>
  std::vector<stored_container> containers;
  std::vector<build_process> processes;
  std::vector<std::string> mirrors;  // service names of mirrors/<service>.git
  bool dangling_images = false;      // the storage holds unnamed images (prune candidates)
};

// What Redis says.
struct sweep_facts {
  bool redis_answered = false;       // false: nothing that needs a lease check is touched
  std::set<std::string> held_builds;  // builds that hold a lease or will run again
  std::set<std::string> services;     // configured and stored services
  bool keep_workspaces = false;       // worker.keep_workspaces: workspaces stay
};

struct sweep_plan {
  std::vector<int> kill;                // orphaned build processes (with their descendants)
  std::vector<std::string> containers;  // container ids to remove
  std::vector<std::string> workspaces;  // build ids whose workspace goes
  std::vector<std::string> mirrors;     // services whose mirror goes
  bool prune_images = false;
};

// Whether a build's leftovers must stay: it holds a lease (even an expired one, which the next
// claim turns into a new attempt or an end), or it waits to run (again), or it runs.
bool build_is_held(bool has_lease, const std::optional<std::string>& status);

// The build ids whose state the plan needs.
std::set<std::string> builds_to_check(const disk_survey& survey);

// Decides what goes. An orphaned build process is killed whatever its build's state: its
// worker is gone, so nobody reads its output or renews its lease; it holds the containers and
// mounts. Containers and workspaces go when their build is not held. Images are pruned only
// when no build process is left on the storage (a multi-stage build's unnamed stage images are
// dangling until its last stage copies from them) and no container stays.
sweep_plan plan_sweep(const disk_survey& survey, const sweep_facts& facts);

// --- Readers of buildah's and the kernel's formats (pure, so tests pin them) ---

// buildah's command line on storage_root (its --root): the build id in its
// --build-arg KIWI_BUILD_ID=<id> (empty when absent); nullopt when argv is not buildah on that
// storage.
std::optional<std::string> buildah_build_id(const std::vector<std::string>& argv,
                                            std::string_view storage_root);

// The build id a container's buildah.json records in its "Args"; empty when none.
std::string builder_build_id(std::string_view buildah_json);

// containers/storage's containers.json: (container id, layer id) pairs; empty when unreadable.
std::vector<std::pair<std::string, std::string>> stored_containers(std::string_view json);

// containers/storage's images.json: whether an image without a name is there.
bool has_unnamed_images(std::string_view json);

// /proc/<pid>/stat: (state, parent pid); nullopt when malformed.
std::optional<std::pair<char, int>> process_state(std::string_view stat);

// A name Kiwi could have made for a build workspace or a service: letters, digits, '-', '_'.
bool plain_name(std::string_view name);

// buildah's warning about build arguments no Dockerfile declared, without KIWI_BUILD_ID (which
// Kiwi passes to every build): nullopt when nothing else is left to warn about; other lines
// come back unchanged.
std::optional<std::string> without_build_id_warning(std::string_view line);

}  // namespace kiwi
