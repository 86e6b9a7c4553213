#include "common/git/repo_view.hpp"

#include <algorithm>
#include <fstream>
#include <system_error>

namespace kiwi {

namespace fs = std::filesystem;

directory_view::directory_view(fs::path root, std::size_t max_files)
    : root_(std::move(root)), max_files_(max_files) {}

std::vector<std::string> directory_view::files() const {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    if (entry.path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    // Directory symlinks are not followed by the iterator; file symlinks are skipped here.
    std::error_code status_ec;
    if (!fs::is_regular_file(entry.symlink_status(status_ec)) || status_ec) {
      continue;
    }
    if (out.size() >= max_files_) {
      break;
    }
    out.push_back(entry.path().lexically_relative(root_).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> directory_view::read(std::string_view path,
                                                std::size_t max_bytes) const {
  const fs::path relative(path);
  if (path.empty() || relative.is_absolute() || path.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  // Walk the components so that neither the file nor a parent directory is a symbolic link.
  fs::path current = root_;
  for (const auto& part : relative) {
    if (part == ".." || part == "." || part.empty() || part == ".git") {
      return std::nullopt;
    }
    current /= part;
    std::error_code ec;
    auto status = fs::symlink_status(current, ec);
    if (ec || fs::is_symlink(status) || !fs::exists(status)) {
      return std::nullopt;
    }
  }
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(current, ec)) || ec) {
    return std::nullopt;
  }
  auto size = fs::file_size(current, ec);
  if (ec || size > max_bytes) {
    return std::nullopt;
  }
  std::ifstream in(current, std::ios::binary);
  std::string contents(size, '\0');
  if (!in.read(contents.data(), static_cast<std::streamsize>(size))) {
    return std::nullopt;
  }
  return contents;
}

}  // namespace kiwi
