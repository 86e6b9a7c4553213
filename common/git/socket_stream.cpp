#include "common/git/socket_stream.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string_view>
#include <type_traits>

namespace kiwi::git {
namespace detail {
namespace {

using clock = transfer_scope::clock;

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
    if (const transfer_scope::state* s = current_transfer(); s != nullptr) {
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

}  // namespace

int socket_stream_init(git_stream** out, const char* host, const char* port) {
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


}  // namespace detail

void set_host_policy(host_policy policy) {
  std::lock_guard lock(detail::policy_mutex);
  detail::current_policy() = std::move(policy);
}


}  // namespace kiwi::git
