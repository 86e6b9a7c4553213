#pragma once
// A read-only view of one commit's files, for the build stage's Dockerfile handling
// (common/dockerfile): the worker reads its checkout (directory_view), the daemon's preview can
// read a git tree without checking it out. Paths are relative and '/'-separated ("src/main.go").
// Only regular files are seen: symbolic links are neither listed nor read, so a link cannot make
// a view read outside the repository.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiwi {

class repo_view {
 public:
  // Largest file read() returns by default: manifests and lockfiles, not build outputs.
  static constexpr std::size_t default_read_limit = 4 * 1024 * 1024;

  virtual ~repo_view() = default;

  // Every regular file, sorted, without anything under a .git directory.
  virtual std::vector<std::string> files() const = 0;

  // A file's contents; nullopt when it is absent, not a regular file, or larger than max_bytes.
  virtual std::optional<std::string> read(std::string_view path, std::size_t max_bytes) const = 0;
};

// A checked-out directory. The listing is capped at max_files paths (the walk stops there), so a
// huge tree costs bounded memory.
class directory_view final : public repo_view {
 public:
  explicit directory_view(std::filesystem::path root, std::size_t max_files = 100000);

  std::vector<std::string> files() const override;
  std::optional<std::string> read(std::string_view path, std::size_t max_bytes) const override;

 private:
  std::filesystem::path root_;
  std::size_t max_files_;
};

}  // namespace kiwi
