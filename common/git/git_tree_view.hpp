#pragma once
// A repo_view over one commit's tree, read straight from a repository's object database: kiwid's
// Dockerfile preview reads its bare mirror this way, without a checkout. It sees what a
// directory_view of the checkout would: regular (and executable) files only; symbolic links and
// submodules are neither listed nor read, nor is anything under a .git folder.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/git/git.hpp"
#include "common/git/repo_view.hpp"

namespace kiwi {

class git_tree_view final : public repo_view {
 public:
  // The tree's repository must outlive the view. The listing is capped at max_files paths.
  explicit git_tree_view(git::tree tree, std::size_t max_files = 100000);

  // Throws git::error when the object database cannot be read.
  std::vector<std::string> files() const override;
  // A blob larger than max_bytes is not loaded (its size comes from the object's header).
  std::optional<std::string> read(std::string_view path, std::size_t max_bytes) const override;

 private:
  git::tree tree_;
  std::size_t max_files_;
};

}  // namespace kiwi
