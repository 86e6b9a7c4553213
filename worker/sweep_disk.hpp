#pragma once
// The disk sweep's I/O (decisions in sweep.hpp): lists what lies in the data directory and in
// buildah's storage, and removes what a plan names. Blocking: run it on the blocking pool.
// Nothing here follows a symbolic link below data_dir or enters another file system: a link
// is removed as a link, a mount point found inside a tree is reported and left.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "worker/buildah_backend.hpp"
#include "worker/sweep.hpp"

namespace kiwi {

// Reads data_dir/workspaces, data_dir/mirrors, the storage's containers.json, images.json and
// the containers' buildah.json, and /proc for buildah processes on the storage.
disk_survey survey_disk(const std::filesystem::path& data_dir, const buildah_storage& storage);

struct sweep_report {
  std::size_t killed = 0;  // orphaned build processes (with their descendants)
  std::size_t containers = 0;
  std::uint64_t container_bytes = 0;
  std::size_t workspaces = 0;
  std::uint64_t workspace_bytes = 0;
  std::size_t mirrors = 0;
  std::uint64_t mirror_bytes = 0;
  std::size_t images = 0;             // dangling images pruned
  std::vector<std::string> problems;  // what could not be removed, and why
  bool removed_anything() const {
    return killed + containers + workspaces + mirrors + images > 0;
  }
};

// Kills the plan's orphaned processes (and waits, up to 10 s, until they are gone), removes its
// containers (`buildah rm`), workspaces and mirrors (a mirror only while no clone holds its
// lock), and prunes dangling images (`buildah rmi --prune`).
sweep_report carry_out(const sweep_plan& plan, const disk_survey& survey,
                       const std::filesystem::path& data_dir, const buildah_storage& storage);

// "1 build container(s) (12.3 MiB), 1 workspace(s) (0.1 MiB)": what a sweep removed.
std::string describe(const sweep_report& report);

}  // namespace kiwi
