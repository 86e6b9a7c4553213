#pragma once
// What every buildah command of one build runs with (worker/buildah_backend.cpp): a private
// directory (0700, removed on every way out) holding the registry credentials file (0600) and a
// registries.conf of the build's own, so that the machine's user's credentials and registry
// settings are never used.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/build/image_build.hpp"  // registry_credentials

namespace kiwi {

// A directory only this process can read, removed with its contents on every way out.
class private_dir {
 public:
  explicit private_dir(const std::filesystem::path& parent);
  ~private_dir();
  private_dir(const private_dir&) = delete;
  private_dir& operator=(const private_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Creates path (it must not exist) with mode 0600 and writes content; throws on failure.
void create_private_file(const std::filesystem::path& path, std::string_view content);

// At most `limit` bytes of a file, without trailing white space ("" when unreadable).
std::string read_trimmed(const std::filesystem::path& path, std::size_t limit = 4096);

// containers-auth.json(5): {"auths": {"host": {"auth": base64("user:password")}}}.
std::string auth_file_json(const std::optional<registry_credentials>& registry);

// Plain http or unverified TLS.
bool registry_is_insecure(const registry_credentials& registry);

// containers-registries.conf(5) for this build: short names resolve on Docker Hub, as with
// Docker; an insecure registry is marked so for base image pulls from it too.
std::string registries_conf(const std::optional<registry_credentials>& registry);

}  // namespace kiwi
