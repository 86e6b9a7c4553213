#pragma once
// A real base image for build tests without the internet: localhost/busybox:latest, made from
// Debian's busybox-static (/bin/busybox and a link per applet) with `buildah from scratch`.
// It is made once per test process, in a buildah storage under the process's temp dir, and
// shared by the tests (which then also share buildah's layer cache).

#include <doctest/doctest.h>

#include <sys/mount.h>

#include <algorithm>
#include <fstream>
#include <mutex>

#include "tests/unit/git_servers.hpp"
#include "worker/buildah_backend.hpp"

namespace kiwi::test {

inline constexpr const char* busybox_image = "localhost/busybox:latest";

// Builds localhost/busybox:latest into `storage`.
inline void make_busybox_image(const kiwi::buildah_storage& storage, const fs::path& work) {
  const fs::path rootfs = work / "rootfs";
  fs::create_directories(rootfs / "bin");
  fs::copy_file("/bin/busybox", rootfs / "bin" / "busybox", fs::copy_options::overwrite_existing);
  const std::string applets = run({"/bin/busybox", "--list"});
  std::size_t at = 0;
  while (at < applets.size()) {
    const auto eol = applets.find('\n', at);
    const std::string name = applets.substr(at, eol - at);
    at = eol == std::string::npos ? applets.size() : eol + 1;
    if (name.empty() || name == "busybox" || fs::exists(rootfs / "bin" / name)) {
      continue;
    }
    fs::create_symlink("busybox", rootfs / "bin" / name);
  }
  const fs::path tar = work / "busybox.tar";
  run({"tar", "--numeric-owner", "-cf", tar.string(), "-C", rootfs.string(), "."});

  const auto buildah = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = kiwi::buildah_argv(storage);
    argv.insert(argv.end(), args.begin(), args.end());
    return trimmed(run(argv));
  };
  const std::string container = buildah({"from", "scratch"});
  buildah({"add", container, tar.string(), "/"});
  buildah({"config", "--cmd", "[\"/bin/sh\"]", "--env", "PATH=/bin", container});
  buildah({"commit", "--quiet", container, busybox_image});
  buildah({"rm", container});
}

// The shared storage holding localhost/busybox:latest (made on first use).
inline const kiwi::buildah_storage& busybox_storage() {
  struct shared {
    temp_dir dir{"kiwi-buildah"};
    kiwi::buildah_storage storage;

    // Before the directory goes: containers and mounts a failed test may have left.
    ~shared() {
      if (!storage.root.empty()) {
        kiwi::remove_build_containers(storage);
      }
      std::ifstream mounts("/proc/self/mounts");
      std::vector<std::string> below;
      for (std::string device, point, rest;
           mounts >> device >> point && std::getline(mounts, rest);) {
        if (point.starts_with(dir.path().string() + "/")) {
          below.push_back(point);
        }
      }
      std::sort(below.rbegin(), below.rend());  // deepest first
      for (const auto& point : below) {
        ::umount2(point.c_str(), MNT_DETACH);
      }
    }
  };
  static std::mutex mutex;
  static std::unique_ptr<shared> instance;
  std::lock_guard lock(mutex);
  if (!instance) {
    auto made = std::make_unique<shared>();
    made->storage.root = made->dir.path() / "buildah";
    made->storage.driver = "overlay";
    make_busybox_image(made->storage, made->dir.path() / "base");
    instance = std::move(made);
  }
  return instance->storage;
}

}  // namespace kiwi::test
