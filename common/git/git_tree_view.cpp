#include "common/git/git_tree_view.hpp"

#include <algorithm>

namespace kiwi {
namespace {

bool regular_file(git_filemode_t mode) {
  return mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE;
}

struct walk_state {
  std::vector<std::string> files;
  std::size_t max_files;
  bool capped = false;
};

int collect(const char* root, const git_tree_entry* entry, void* payload) {
  auto& state = *static_cast<walk_state*>(payload);
  const std::string_view name = git_tree_entry_name(entry);
  if (git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
    return name == ".git" ? 1 : 0;  // 1: skip the subtree
  }
  if (!regular_file(git_tree_entry_filemode(entry))) {
    return 0;
  }
  if (state.files.size() >= state.max_files) {
    state.capped = true;
    return -1;  // stops the walk
  }
  state.files.push_back(std::string(root) + std::string(name));
  return 0;
}

}  // namespace

git_tree_view::git_tree_view(git::tree tree, std::size_t max_files)
    : tree_(std::move(tree)), max_files_(max_files) {}

std::vector<std::string> git_tree_view::files() const {
  walk_state state{{}, max_files_};
  const int rc = git_tree_walk(tree_.get(), GIT_TREEWALK_PRE, &collect, &state);
  if (rc < 0 && !state.capped) {
    git::check(rc);
  }
  std::sort(state.files.begin(), state.files.end());
  return std::move(state.files);
}

std::optional<std::string> git_tree_view::read(std::string_view path,
                                               std::size_t max_bytes) const {
  if (path.empty() || path.find('\0') != std::string_view::npos || path.front() == '/') {
    return std::nullopt;
  }
  // Each component must name an entry: no "", ".", ".." or ".git".
  for (std::string_view rest = path; !rest.empty();) {
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == ".." || part == ".git") {
      return std::nullopt;
    }
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (slash != std::string_view::npos && rest.empty()) {
      return std::nullopt;  // a trailing '/'
    }
  }
  // A path through a symbolic link or a submodule finds no entry: bypath walks trees only.
  git::tree_entry entry;
  const std::string p(path);
  if (git_tree_entry_bypath(git::out_ptr(entry), tree_.get(), p.c_str()) != 0) {
    return std::nullopt;
  }
  if (!regular_file(git_tree_entry_filemode(entry.get()))) {
    return std::nullopt;
  }
  git_repository* repo = git_tree_owner(tree_.get());
  git_odb* odb = nullptr;
  git::check(git_repository_odb(&odb, repo));
  const std::unique_ptr<git_odb, git::deleter<git_odb_free>> odb_handle(odb);
  std::size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  git::check(git_odb_read_header(&size, &type, odb, git_tree_entry_id(entry.get())));
  if (type != GIT_OBJECT_BLOB || size > max_bytes) {
    return std::nullopt;
  }
  git::blob blob;
  git::check(git_blob_lookup(git::out_ptr(blob), repo, git_tree_entry_id(entry.get())));
  const auto* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
  return std::string(data, static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

}  // namespace kiwi
