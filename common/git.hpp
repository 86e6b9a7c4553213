#pragma once
// The one wrapper around libgit2 (in the style of Nix's libfetchers/git-utils): owning handles
// filled through an out-parameter adapter, one-time initialisation, a socket stream that obeys a
// deadline, and the one place where libgit2's errors become Kiwi's (git::check / git::translate).

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

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
using object = std::unique_ptr<git_object, deleter<git_object_free>>;
using commit = std::unique_ptr<git_commit, deleter<git_commit_free>>;
using tree = std::unique_ptr<git_tree, deleter<git_tree_free>>;
using reference = std::unique_ptr<git_reference, deleter<git_reference_free>>;
using index = std::unique_ptr<git_index, deleter<git_index_free>>;
using config = std::unique_ptr<git_config, deleter<git_config_free>>;

// Fills a handle through libgit2's out-parameter convention: git_x(out_ptr(h), ...). The handle
// is set when the full expression ends, so use it only in a later statement.
template <class Handle>
class out_ptr_t {
 public:
  explicit out_ptr_t(Handle& h) : handle_(h) {}
  ~out_ptr_t() {
    if (raw_ != nullptr) {
      handle_.reset(raw_);
    }
  }
  out_ptr_t(const out_ptr_t&) = delete;
  out_ptr_t& operator=(const out_ptr_t&) = delete;
  operator typename Handle::pointer*() { return &raw_; }

 private:
  Handle& handle_;
  typename Handle::pointer raw_ = nullptr;
};

template <class Handle>
out_ptr_t<Handle> out_ptr(Handle& h) {
  return out_ptr_t<Handle>(h);
}

// Initialises libgit2 once per process and installs Kiwi's socket stream (see transfer_scope).
void ensure_initialised();

// What a libgit2 failure means for the user.
enum class error_kind {
  authentication,  // credentials missing or rejected
  not_found,       // the remote repository does not exist or is not exported
  timeout,         // deadline passed, or the server could not be reached
  certificate,     // TLS certificate not trusted
  cancelled,       // the caller's cancel flag was set
  other
};

// What users read for each kind of failure (clone stage, connection test).
inline constexpr std::string_view authentication_failed_message =
    "Authentication failed: check that the token hasn't expired and has read_repository "
    "permission";
inline constexpr std::string_view repository_not_found_message =
    "Repository not found: check that the URL ends with .git and has no typos";
inline constexpr std::string_view connection_timeout_message =
    "Connection timeout: check firewall settings and the git server status";
inline constexpr std::string_view certificate_message_prefix =
    "TLS certificate verification failed: the git server's certificate is not trusted";

class error : public std::runtime_error {
 public:
  error(error_kind kind, int code, std::string detail);
  error_kind kind() const noexcept { return kind_; }
  int code() const noexcept { return code_; }
  // libgit2's message or Kiwi's own reason, credentials scrubbed; may be empty.
  const std::string& detail() const noexcept { return detail_; }

 private:
  error_kind kind_;
  int code_;
  std::string detail_;
};

// The one place where a libgit2 return code becomes a Kiwi error. A cause recorded by the
// current transfer_scope (our own callbacks and stream) wins over git_error_last(), which is
// stale after a callback returned an error.
error translate(int code);

// Returns code when it is not an error; throws translate(code) otherwise.
int check(int code);

// Removes "user:password@" from URLs inside text.
std::string scrub_credentials(std::string text);

// Deadline and cancel flag for the libgit2 network operations run on this thread while the
// scope lives. Kiwi's socket stream enforces both on connect and on every read and write, so a
// server that accepts and then sends nothing cannot hang a fetch; callbacks call checkpoint().
class transfer_scope {
 public:
  using clock = std::chrono::steady_clock;

  transfer_scope(clock::time_point deadline, const std::atomic<bool>* cancel);
  ~transfer_scope();
  transfer_scope(const transfer_scope&) = delete;
  transfer_scope& operator=(const transfer_scope&) = delete;

  // For libgit2 callbacks: 0 to go on, or GIT_EUSER after recording a timeout or cancel.
  static int checkpoint();
  // For libgit2 callbacks that give up: records why and returns GIT_EUSER.
  static int give_up(error_kind kind, std::string detail = {});

  struct state {
    clock::time_point deadline;
    const std::atomic<bool>* cancel = nullptr;
    std::optional<error_kind> cause;
    std::string detail;
  };

 private:
  state state_;
  state* previous_;
};

}  // namespace kiwi::git
