#pragma once
// The one wrapper around libgit2: owning handles, one-time initialisation, and the one place
// where libgit2's error codes become Kiwi's (in the style of Nix's libfetchers/git-utils).

#include <memory>
#include <string>

#include <git2.h>

namespace kiwi::git {

template <auto free_fn>
struct deleter {
  template <class T>
  void operator()(T* p) const {
    free_fn(p);
  }
};

using repository = std::unique_ptr<git_repository, deleter<git_repository_free>>;
using remote = std::unique_ptr<git_remote, deleter<git_remote_free>>;
using commit = std::unique_ptr<git_commit, deleter<git_commit_free>>;
using tree = std::unique_ptr<git_tree, deleter<git_tree_free>>;
using reference = std::unique_ptr<git_reference, deleter<git_reference_free>>;

// Fills a handle through libgit2's out-parameter convention: check(git_x(out_ptr(h), ...)).
template <class Handle>
class out_ptr_t {
 public:
  explicit out_ptr_t(Handle& h) : handle_(h) {}
  ~out_ptr_t() { handle_.reset(raw_); }
  operator typename Handle::pointer*() { return &raw_; }

 private:
  Handle& handle_;
  typename Handle::pointer raw_ = nullptr;
};
template <class Handle>
out_ptr_t<Handle> out_ptr(Handle& h) {
  return out_ptr_t<Handle>(h);
}

// Initialises libgit2 once per process.
void ensure_initialised();

// libgit2's last error for a failed call, with any credentials in URLs scrubbed.
struct failure {
  int code = 0;       // the call's return value (GIT_EAUTH, GIT_ECERTIFICATE, ...)
  int klass = 0;      // git_error class
  std::string message;
};
failure last_failure(int code);

// Removes "user:password@" from URLs inside text.
std::string scrub_credentials(std::string text);

}  // namespace kiwi::git
