#pragma once
// The one wrapper around libgit2 (in the style of Nix's libfetchers/git-utils): owning handles
// filled through an out-parameter adapter, one-time initialisation, a socket stream that obeys a
// deadline, and the one place where libgit2's errors become Kiwi's (git::check / git::translate).

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <git2.h>

#include "common/security/host_policy.hpp"

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
using tree_entry = std::unique_ptr<git_tree_entry, deleter<git_tree_entry_free>>;
using blob = std::unique_ptr<git_blob, deleter<git_blob_free>>;
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

// The hosts every later git connection of this process may reach (config git.allowed_hosts /
// git.denied_hosts); until it is called, host_policy's defaults. Kiwi's socket stream checks
// the host name and each address it resolves to before connecting (http, https, git://, ssh).
void set_host_policy(host_policy policy);

// What a libgit2 failure means for the user.
enum class error_kind {
  authentication,  // credentials missing or rejected
  not_found,       // the remote repository does not exist or is not exported
  timeout,         // deadline passed, or the server could not be reached
  certificate,     // TLS certificate not trusted
  cancelled,       // the caller's cancel flag was set
  host_key,        // the ssh server's host key is not in the service's ssh_known_hosts
  denied,          // git.allowed_hosts / git.denied_hosts refuse the host, or a redirect
                   // leads to another host: a setting to fix, never retried
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
// Over ssh, "Authentication failed" says what to fix about the key instead of the token.
inline constexpr std::string_view ssh_key_missing_message =
    "Authentication failed: the git server asks for an SSH key; set the service's ssh_key (an "
    "ed25519 private key in OpenSSH format)";
inline constexpr std::string_view ssh_key_rejected_message =
    "Authentication failed: the git server rejected the SSH key; check that its public key is "
    "registered with read access (e.g. as a deploy key) for the URL's user";
inline constexpr std::string_view host_key_message_prefix = "SSH host key verification failed";
inline constexpr std::string_view redirect_refused_prefix =
    "The git server redirected to another host";

// What users read when a transfer stopped at a redirect to another host (where: the URL it
// led to, or "" when libgit2 does not say).
std::string redirect_refused_message(std::string_view where);

// Every transfer's redirect setting: libgit2 1.5 follows a redirect to another host on the
// first request by default, and would take the token there.
inline constexpr git_remote_redirect_t follow_redirects = GIT_REMOTE_REDIRECT_NONE;

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

// What the user reads for an authentication failure: the ssh message recorded by remote_auth,
// else the token message.
std::string authentication_message(const error& e);

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

// Who Kiwi is to a remote and who the remote must be, for one connection (clone stage,
// connection test); its methods are what the libgit2 callbacks return. https: the token, as
// `username`. ssh: the ed25519 key, as the URL's user (default "git"), from memory or, where
// libgit2 cannot take it from memory, from a 0600 file in a private 0700 directory that lives
// as long as this object. Each credential is offered once: libgit2 asks again after a
// rejection, and the second request ends the transfer as an authentication failure. The ssh
// server's host key must match a line of ssh_known_hosts when that is set; otherwise it is
// accepted and reported (host_key()). Holds secrets: never log or copy it into messages.
class remote_auth {
 public:
  struct settings {
    std::string url;
    std::string username;         // sent with the token
    std::string token;            // empty: anonymous over https
    std::string ssh_key;          // ed25519 private key (OpenSSH format); empty: none
    std::string ssh_known_hosts;  // known_hosts lines; empty: accept any host key and report it
    bool ssh_key_in_memory = true;  // false: always through the file (tests of the fallback)
  };

  explicit remote_auth(settings s);
  ~remote_auth();
  remote_auth(const remote_auth&) = delete;
  remote_auth& operator=(const remote_auth&) = delete;

  // git_credential_acquire_cb's work. `url` is where libgit2 is about to send the credential:
  // anything but the configured URL's scheme, host and port gets none (a redirect, however it
  // got past follow_redirects) and ends the transfer.
  int credentials(git_credential** out, const char* url, const char* username_from_url,
                  unsigned int allowed);
  // git_transport_certificate_check_cb's work; also a transfer_scope checkpoint.
  int certificate_check(git_cert* cert, int valid, const char* host);

  // "SHA256:..." of the ssh server's host key once seen, else empty.
  const std::string& host_key() const noexcept { return host_key_; }
  // "[host]:port ssh-ed25519 AAAA...": the ssh_known_hosts line that pins it (may be empty).
  const std::string& host_key_line() const noexcept { return host_key_line_; }
  // Whether host_key() was checked against ssh_known_hosts (else only reported).
  bool host_key_pinned() const noexcept { return !settings_.ssh_known_hosts.empty(); }
  // Where the key file was written when the fallback ran (tests check it is gone), else empty.
  const std::filesystem::path& key_file() const noexcept { return key_file_; }
  // text with the token and the key replaced by "***".
  std::string scrub(std::string text) const;

 private:
  int ssh_key_credential(git_credential** out, const char* user, unsigned int allowed);
  void remove_key_file() noexcept;

  settings settings_;
  int token_requests_ = 0;
  int key_requests_ = 0;
  std::string host_key_;
  std::string host_key_line_;
  std::filesystem::path key_file_;  // owned: removed with its directory by the destructor
};

}  // namespace kiwi::git
