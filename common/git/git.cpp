#include "common/git/git.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2/sys/stream.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "common/git/ssh_known_hosts.hpp"
#include "common/security/url_authority.hpp"
#include "common/security/webhook_signature.hpp"

namespace kiwi::git {
namespace {

using clock = transfer_scope::clock;

thread_local transfer_scope::state* current_scope = nullptr;

// Keeps the first cause: later failures are consequences of it.
void record_cause(error_kind kind, std::string detail) {
  if (current_scope != nullptr && !current_scope->cause) {
    current_scope->cause = kind;
    current_scope->detail = std::move(detail);
  }
}

enum class limit { none, timed_out, cancelled };

limit limit_reached() {
  const transfer_scope::state* s = current_scope;
  if (s == nullptr) {
    return limit::none;
  }
  if (s->cancel != nullptr && s->cancel->load()) {
    return limit::cancelled;
  }
  if (clock::now() >= s->deadline) {
    return limit::timed_out;
  }
  return limit::none;
}

// Records the limit as the cause and sets libgit2's error; returns -1 for the stream call.
int fail_on(limit l, std::string_view what) {
  if (l == limit::cancelled) {
    record_cause(error_kind::cancelled, {});
    git_error_set_str(GIT_ERROR_NET, (std::string(what) + ": cancelled").c_str());
  } else {
    record_cause(error_kind::timeout, {});
    git_error_set_str(GIT_ERROR_NET, (std::string(what) + ": timed out").c_str());
  }
  return -1;
}

// Waits until fd is ready for events or a limit is reached; polls in slices so that a cancel
// is seen within 100 ms.
limit wait_ready(int fd, short events) {
  for (;;) {
    int slice_ms = -1;
    if (const transfer_scope::state* s = current_scope; s != nullptr) {
      if (limit l = limit_reached(); l != limit::none) {
        return l;
      }
      auto left = std::chrono::ceil<std::chrono::milliseconds>(s->deadline - clock::now());
      slice_ms = static_cast<int>(std::clamp<long long>(left.count(), 1, 100));
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, slice_ms);
    if (rc > 0 || (rc < 0 && errno != EINTR)) {
      return limit::none;  // ready, or an error the next socket call reports
    }
  }
}

// Replaces libgit2 1.5's socket stream, which has no timeouts at all. The first four members
// mirror libgit2 1.5's git_socket_stream: its ssh transport casts the stream to that type and
// hands `fd` to libssh2, so they must stay first and in this order.
struct socket_stream {
  git_stream parent;
  char* host;
  char* port;
  int fd;
};
static_assert(std::is_standard_layout_v<socket_stream>);

socket_stream* as_socket(git_stream* stream) { return reinterpret_cast<socket_stream*>(stream); }

std::string endpoint(const socket_stream* s) { return std::string(s->host) + ":" + s->port; }

// Refused, unresolvable, unreachable: the user sees a connection problem with the precise
// reason (host and port only, never credentials).
int fail_connect(std::string reason) {
  git_error_set_str(GIT_ERROR_NET, ("failed to connect: " + reason).c_str());
  record_cause(error_kind::timeout, std::move(reason));
  return -1;
}

std::mutex policy_mutex;
host_policy& current_policy() {
  static host_policy policy;
  return policy;
}

// The policy's refusal, recorded as the cause; the connection is never attempted.
int refuse_host(std::string reason) {
  git_error_set_str(GIT_ERROR_NET, ("failed to connect: " + reason).c_str());
  record_cause(error_kind::denied, std::move(reason));
  return -1;
}

int stream_connect(git_stream* stream) {
  socket_stream* s = as_socket(stream);
  host_policy policy;
  {
    std::lock_guard lock(policy_mutex);
    policy = current_policy();
  }
  if (auto refused = policy.refuses_name(s->host)) {
    return refuse_host(*refused);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  // Name resolution cannot be interrupted; the resolver's own timeouts bound it.
  if (int rc = ::getaddrinfo(s->host, s->port, &hints, &found); rc != 0) {
    return fail_connect("cannot resolve " + std::string(s->host) + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, deleter<::freeaddrinfo>> addresses(found);
  // Every address is checked before any is tried: a name that resolves to a denied address
  // is refused as the address itself is.
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (auto refused = policy.refuses_address(s->host, a->ai_addr)) {
      return refuse_host(*refused);
    }
  }
  std::string reason = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      reason = endpoint(s) + ": " + std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (limit l = wait_ready(fd, POLLOUT); l != limit::none) {
        ::close(fd);
        return fail_on(l, "failed to connect to " + endpoint(s));
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      s->fd = fd;
      return 0;
    }
    reason = endpoint(s) + ": " + std::strerror(errno);
    ::close(fd);
  }
  return fail_connect(reason);
}

ssize_t stream_read(git_stream* stream, void* data, size_t len) {
  socket_stream* s = as_socket(stream);
  for (;;) {
    if (limit l = limit_reached(); l != limit::none) {
      return fail_on(l, "could not read from " + endpoint(s));
    }
    ssize_t n = ::recv(s->fd, data, len, 0);
    if (n >= 0) {
      return n;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      git_error_set_str(GIT_ERROR_NET,
                        ("could not read from " + endpoint(s) + ": " + std::strerror(errno)).c_str());
      return -1;
    }
    if (limit l = wait_ready(s->fd, POLLIN); l != limit::none) {
      return fail_on(l, "could not read from " + endpoint(s));
    }
  }
}

ssize_t stream_write(git_stream* stream, const char* data, size_t len, int flags) {
  socket_stream* s = as_socket(stream);
  for (;;) {
    if (limit l = limit_reached(); l != limit::none) {
      return fail_on(l, "could not write to " + endpoint(s));
    }
    // MSG_NOSIGNAL: a server that hangs up must not kill the worker with SIGPIPE.
    ssize_t n = ::send(s->fd, data, len, flags | MSG_NOSIGNAL);
    if (n >= 0) {
      return n;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      git_error_set_str(GIT_ERROR_NET,
                        ("could not write to " + endpoint(s) + ": " + std::strerror(errno)).c_str());
      return -1;
    }
    if (limit l = wait_ready(s->fd, POLLOUT); l != limit::none) {
      return fail_on(l, "could not write to " + endpoint(s));
    }
  }
}

int stream_close(git_stream* stream) {
  socket_stream* s = as_socket(stream);
  if (s->fd >= 0) {
    ::close(s->fd);
    s->fd = -1;
  }
  return 0;
}

void stream_free(git_stream* stream) {
  socket_stream* s = as_socket(stream);
  stream_close(stream);
  std::free(s->host);
  std::free(s->port);
  delete s;
}

int stream_init(git_stream** out, const char* host, const char* port) {
  auto* s = new (std::nothrow) socket_stream{};
  if (s == nullptr) {
    git_error_set_oom();
    return -1;
  }
  s->parent.version = GIT_STREAM_VERSION;
  s->parent.connect = &stream_connect;
  s->parent.read = &stream_read;
  s->parent.write = &stream_write;
  s->parent.close = &stream_close;
  s->parent.free = &stream_free;
  s->host = ::strdup(host);
  s->port = ::strdup(port != nullptr ? port : "");
  s->fd = -1;
  if (s->host == nullptr || s->port == nullptr) {
    stream_free(&s->parent);
    git_error_set_oom();
    return -1;
  }
  *out = &s->parent;
  return 0;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// The port of an ssh:// URL (22 when absent, and for scp-like user@host:path).
int ssh_port(std::string_view url) {
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) {
    return 22;
  }
  std::string_view authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find('/'));
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (authority.starts_with('[')) {  // [v6 address]:port
    const std::size_t close = authority.find(']');
    authority.remove_prefix(close == std::string_view::npos ? authority.size() : close + 1);
  }
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == authority.size()) {
    return 22;
  }
  int port = 0;
  for (char c : authority.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) {
      return 22;
    }
    port = port * 10 + (c - '0');
  }
  return port;
}

// Writes text to a new 0600 file in a new 0700 directory under the temp dir; returns its path.
std::filesystem::path write_private_file(const std::string& text) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiwi-ssh-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {  // mkdtemp makes it 0700
    throw std::system_error(errno, std::generic_category(), "cannot create a private directory");
  }
  std::filesystem::path file = std::filesystem::path(dir) / "key";  // moved out on return
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int err = errno;
    ::rmdir(dir.c_str());
    throw std::system_error(err, std::generic_category(), "cannot create the key file");
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(file.c_str());
      ::rmdir(dir.c_str());
      throw std::system_error(err, std::generic_category(), "cannot write the key file");
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return file;
}

std::string replace_all(std::string text, const std::string& secret) {
  if (secret.empty()) {
    return text;
  }
  constexpr std::string_view mask = "***";
  for (auto at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + mask.size())) {
    text.replace(at, secret.size(), mask);
  }
  return text;
}

}  // namespace

std::string redirect_refused_message(std::string_view where) {
  std::string text(redirect_refused_prefix);
  if (!where.empty()) {
    text += " (to " + endpoint_of(where) + ")";
  }
  return text + "; Kiwi sends credentials only to the git_url's host: set git_url to the "
                "repository's final address";
}

void ensure_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // libgit2 re-hashes every object it reads (collision-detecting SHA-1) by default; git does
    // not. Objects are hashed once when a fetch indexes them (the hash is their id) and packs
    // carry checksums, so re-checking at every read only slows checkouts: 90% of an incremental
    // clone stage went there (bench/clone_fetch: 306 ms with it, 109 ms without).
    git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
    git_stream_registration registration{};
    registration.version = GIT_STREAM_VERSION;
    registration.init = &stream_init;
    git_stream_register(GIT_STREAM_STANDARD, &registration);
  });
}

void set_host_policy(host_policy policy) {
  std::lock_guard lock(policy_mutex);
  current_policy() = std::move(policy);
}

error::error(error_kind kind, int code, std::string detail)
    : std::runtime_error(detail.empty() ? "libgit2 error " + std::to_string(code) : detail),
      kind_(kind),
      code_(code),
      detail_(std::move(detail)) {}

error translate(int code) {
  if (current_scope != nullptr && current_scope->cause) {
    return error(*current_scope->cause, code, scrub_credentials(current_scope->detail));
  }
  const git_error* last = git_error_last();
  const std::string message =
      last != nullptr && last->message != nullptr ? scrub_credentials(last->message) : std::string();
  const int klass = last != nullptr ? last->klass : GIT_ERROR_NONE;
  if (code == GIT_EAUTH || contains(message, "http status code: 401") ||
      contains(message, "http status code: 403")) {
    return error(error_kind::authentication, code, message);
  }
  // libgit2 1.5 says "cannot redirect from 'a' to 'b'" (later versions "cross host redirect").
  if (contains(message, "cannot redirect from") || contains(message, "cross host redirect")) {
    return error(error_kind::denied, code, redirect_refused_message({}));
  }
  if (code == GIT_ECERTIFICATE) {
    return error(error_kind::certificate, code, message);
  }
  if (contains(message, "http status code: 404") ||
      contains(message, "access denied or repository not exported") ||
      contains(message, "could not find repository") ||
      (code == GIT_ENOTFOUND && klass == GIT_ERROR_REPOSITORY) ||
      (klass == GIT_ERROR_OS && contains(message, "failed to resolve path"))) {
    return error(error_kind::not_found, code, message);
  }
  return error(error_kind::other, code, message.empty() ? "libgit2 error " + std::to_string(code)
                                                        : message);
}

int check(int code) {
  if (code < 0) {
    throw translate(code);
  }
  return code;
}

std::string scrub_credentials(std::string text) {
  for (std::size_t at = text.find("://"); at != std::string::npos; at = text.find("://", at)) {
    at += 3;
    const std::size_t end = std::min(text.find_first_of("/ \t\r\n'\"", at), text.size());
    const std::size_t userinfo = std::string_view(text).substr(at, end - at).rfind('@');
    if (userinfo != std::string_view::npos) {
      text.erase(at, userinfo + 1);
    }
  }
  return text;
}

std::string authentication_message(const error& e) {
  if (e.kind() == error_kind::authentication && e.detail().starts_with("Authentication failed:")) {
    return e.detail();
  }
  return std::string(authentication_failed_message);
}

transfer_scope::transfer_scope(clock::time_point deadline, const std::atomic<bool>* cancel)
    : state_{deadline, cancel, std::nullopt, {}}, previous_(current_scope) {
  current_scope = &state_;
}

transfer_scope::~transfer_scope() { current_scope = previous_; }

int transfer_scope::checkpoint() {
  switch (limit_reached()) {
    case limit::none:
      return 0;
    case limit::cancelled:
      record_cause(error_kind::cancelled, {});
      return GIT_EUSER;
    case limit::timed_out:
      record_cause(error_kind::timeout, {});
      return GIT_EUSER;
  }
  return 0;
}

int transfer_scope::give_up(error_kind kind, std::string detail) {
  record_cause(kind, std::move(detail));
  return GIT_EUSER;
}

remote_auth::remote_auth(settings s) : settings_(std::move(s)) {
  // libssh2 reads the key line by line: the END line needs its newline, which a key read from
  // a file or typed into a form may have lost.
  if (!settings_.ssh_key.empty() && settings_.ssh_key.back() != '\n') {
    settings_.ssh_key.push_back('\n');
  }
}

remote_auth::~remote_auth() { remove_key_file(); }

void remote_auth::remove_key_file() noexcept {
  if (key_file_.empty()) {
    return;
  }
  std::error_code ignored;
  std::filesystem::remove(key_file_, ignored);
  std::filesystem::remove(key_file_.parent_path(), ignored);
}

int remote_auth::credentials(git_credential** out, const char* url,
                             const char* username_from_url, unsigned int allowed) {
  if (int stop = transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  const bool from_url = username_from_url != nullptr && *username_from_url != '\0';
  // ssh without a user in the URL: libgit2 asks for the name before the methods.
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) {
    return git_credential_username_new(out, from_url ? username_from_url : "git");
  }
  if (url != nullptr && !same_endpoint(url, settings_.url)) {
    return transfer_scope::give_up(error_kind::denied, redirect_refused_message(url));
  }
  constexpr unsigned int ssh_key_types = GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_SSH_MEMORY;
  if ((allowed & ssh_key_types) != 0 || !settings_.ssh_key.empty()) {
    if (settings_.ssh_key.empty()) {
      return transfer_scope::give_up(error_kind::authentication,
                                     std::string(ssh_key_missing_message));
    }
    if ((allowed & ssh_key_types) == 0) {
      return transfer_scope::give_up(
          error_kind::authentication,
          "Authentication failed: the git server does not accept SSH keys (publickey) here");
    }
    return ssh_key_credential(out, from_url ? username_from_url : "git", allowed);
  }
  if (settings_.token.empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) {
    return GIT_PASSTHROUGH;
  }
  // libgit2 asks again after the server rejected the credential: one rejection is final.
  if (++token_requests_ > 1) {
    return transfer_scope::give_up(error_kind::authentication);
  }
  return git_credential_userpass_plaintext_new(out, settings_.username.c_str(),
                                               settings_.token.c_str());
}

int remote_auth::ssh_key_credential(git_credential** out, const char* user,
                                    unsigned int allowed) {
  if (++key_requests_ > 1) {
    return transfer_scope::give_up(error_kind::authentication,
                                   std::string(ssh_key_rejected_message));
  }
  // The public half is stored in clear inside the key file; handing it over spares libssh2
  // deriving it (which its OpenSSL backend cannot do for every key type).
  const std::string public_key = ssh::public_key_of(settings_.ssh_key);
  const char* public_or_null = public_key.empty() ? nullptr : public_key.c_str();
  if (settings_.ssh_key_in_memory && (allowed & GIT_CREDENTIAL_SSH_MEMORY) != 0) {
    if (git_credential_ssh_key_memory_new(out, user, public_or_null, settings_.ssh_key.c_str(),
                                          nullptr) == 0) {
      return 0;
    }
    git_error_clear();  // libgit2 built without memory keys: use a file instead
  }
  remove_key_file();
  key_file_.clear();
  try {
    key_file_ = write_private_file(settings_.ssh_key);
  } catch (const std::system_error& e) {
    return transfer_scope::give_up(error_kind::other,
                                   std::string("cannot hand the SSH key to libssh2: ") + e.what());
  }
  // libssh2 reads the public key from a file too; without one it derives it.
  return git_credential_ssh_key_new(out, user, nullptr, key_file_.c_str(), nullptr);
}

int remote_auth::certificate_check(git_cert* cert, int /*valid*/, const char* host) {
  if (int stop = transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  if (cert == nullptr || cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) {
    return GIT_PASSTHROUGH;  // TLS: libgit2's own verification decides
  }
  // libgit2 1.5.1 also looks the host up in the worker's ~/.ssh/known_hosts (`valid`); Kiwi's
  // policy is the service's ssh_known_hosts alone.
  const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
  const std::string label =
      ssh::host_label(host != nullptr ? host : "", ssh_port(settings_.url));
  std::string digest;
  if ((hostkey->type & GIT_CERT_SSH_RAW) != 0 && hostkey->hostkey != nullptr &&
      hostkey->hostkey_len > 0) {
    const std::string_view blob(hostkey->hostkey, hostkey->hostkey_len);
    digest = sha256(blob);
    host_key_line_ = ssh::known_hosts_line(label, blob);
  } else if ((hostkey->type & GIT_CERT_SSH_SHA256) != 0) {
    digest.assign(reinterpret_cast<const char*>(hostkey->hash_sha256),
                  sizeof(hostkey->hash_sha256));
  } else {
    return transfer_scope::give_up(error_kind::host_key,
                                   std::string(host_key_message_prefix) + ": " + label +
                                       " sent no SHA-256 of its host key to compare");
  }
  host_key_ = ssh::fingerprint(digest);
  if (settings_.ssh_known_hosts.empty() ||
      ssh::known_hosts_match(settings_.ssh_known_hosts, host != nullptr ? host : "",
                             ssh_port(settings_.url), digest)) {
    return 0;
  }
  return transfer_scope::give_up(error_kind::host_key,
                                 std::string(host_key_message_prefix) + ": " + label +
                                     " presented " + host_key_ +
                                     ", which is not in ssh_known_hosts");
}

std::string remote_auth::scrub(std::string text) const {
  std::string key = settings_.ssh_key;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
    key.pop_back();
  }
  return replace_all(replace_all(std::move(text), settings_.token), key);
}

}  // namespace kiwi::git
