#include "worker/clone_stage.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "common/git.hpp"

namespace kiwi {
namespace {

using clock = std::chrono::steady_clock;

constexpr std::string_view auth_message =
    "Authentication failed: check that the token hasn't expired and has read_repository "
    "permission";
constexpr std::string_view not_found_message =
    "Repository not found: check that the URL ends with .git and has no typos";
constexpr std::string_view timeout_message =
    "Connection timeout: check firewall settings and the git server status";

clone_error make_error(clone_errc code, std::string message) { return {code, std::move(message)}; }

// What the libgit2 callbacks share with run_clone.
struct fetch_context {
  const clone_request& request;
  clock::time_point deadline;
  int credential_attempts = 0;
  bool auth_rejected = false;
  bool timed_out = false;
  bool cancelled = false;
  clock::time_point last_progress{};
};

int on_credentials(git_credential** out, const char*, const char*, unsigned int allowed,
                   void* payload) {
  auto& ctx = *static_cast<fetch_context*>(payload);
  if (ctx.request.token.empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) {
    return GIT_PASSTHROUGH;
  }
  // libgit2 asks again after a 401: one rejected credential is enough to give up.
  if (++ctx.credential_attempts > 1) {
    ctx.auth_rejected = true;
    return GIT_EUSER;
  }
  return git_credential_userpass_plaintext_new(out, ctx.request.username.c_str(),
                                               ctx.request.token.c_str());
}

// Returns non-zero to abort the transfer on cancel or deadline.
int check_abort(fetch_context& ctx) {
  if (ctx.request.cancel != nullptr && ctx.request.cancel->load()) {
    ctx.cancelled = true;
    return GIT_EUSER;
  }
  if (clock::now() > ctx.deadline) {
    ctx.timed_out = true;
    return GIT_EUSER;
  }
  return 0;
}

int on_transfer(const git_indexer_progress* stats, void* payload) {
  auto& ctx = *static_cast<fetch_context*>(payload);
  if (int abort = check_abort(ctx)) {
    return abort;
  }
  auto now = clock::now();
  bool done = stats->received_objects == stats->total_objects && stats->total_objects > 0;
  if (ctx.request.on_progress && (now - ctx.last_progress > std::chrono::milliseconds(500) ||
                                  (done && stats->indexed_objects == stats->total_objects))) {
    ctx.last_progress = now;
    ctx.request.on_progress(fmt::format("Fetching: {}/{} objects, {:.1f} MiB",
                                        stats->received_objects, stats->total_objects,
                                        static_cast<double>(stats->received_bytes) / 1048576.0));
  }
  return 0;
}

int on_sideband(const char*, int, void* payload) {
  return check_abort(*static_cast<fetch_context*>(payload));
}

struct url_parts {
  std::string scheme;
  std::string host;
  std::string port;
};

std::optional<url_parts> network_endpoint(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::nullopt;
  }
  url_parts p;
  p.scheme = std::string(url.substr(0, scheme_end));
  static const std::pair<std::string_view, std::string_view> ports[] = {
      {"http", "80"}, {"https", "443"}, {"git", "9418"}, {"ssh", "22"}};
  for (auto [scheme, port] : ports) {
    if (p.scheme == scheme) {
      p.port = std::string(port);
    }
  }
  if (p.port.empty()) {
    return std::nullopt;  // file:// and friends need no network
  }
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    rest = rest.substr(at + 1);
  }
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    p.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
  } else {
    p.host = std::string(rest.substr(0, rest.find(':')));
    rest = rest.find(':') == std::string_view::npos ? std::string_view() : rest.substr(rest.find(':'));
  }
  if (rest.starts_with(':') && rest.size() > 1) {
    p.port = std::string(rest.substr(1));
  }
  return p;
}

// libgit2 1.5 has no connect timeout: probe the server with one first, so an unreachable host
// fails within the deadline instead of the kernel's minutes.
std::optional<std::string> probe_connect(const url_parts& p, clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(p.host.c_str(), p.port.c_str(), &hints, &found); rc != 0) {
    return fmt::format("cannot resolve {}: {}", p.host, gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  std::string last = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      pollfd pfd{fd, POLLOUT, 0};
      rc = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, left.count())));
      if (rc == 0) {
        ::close(fd);
        return fmt::format("no answer from {}:{} within the deadline", p.host, p.port);
      }
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc == 0) {
      ::close(fd);
      return std::nullopt;
    }
    last = fmt::format("{}:{}: {}", p.host, p.port, std::strerror(errno));
    ::close(fd);
  }
  return last;
}

// Holds flock() on <mirror>.lock: one fetch per mirror at a time, across processes too.
class mirror_lock {
 public:
  explicit mirror_lock(const std::filesystem::path& mirror) {
    auto path = mirror.string() + ".lock";
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_EX);
    }
  }
  ~mirror_lock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  mirror_lock(const mirror_lock&) = delete;
  mirror_lock& operator=(const mirror_lock&) = delete;

 private:
  int fd_ = -1;
};

git::repository open_mirror(const std::filesystem::path& dir, std::string& error) {
  git::repository repo;
  if (std::filesystem::exists(dir / "HEAD")) {
    if (git_repository_open_bare(git::out_ptr(repo), dir.c_str()) == 0) {
      return repo;
    }
    std::error_code ignored;  // a corrupt mirror is a cache: start it again
    std::filesystem::remove_all(dir, ignored);
  }
  std::filesystem::create_directories(dir.parent_path());
  if (int rc = git_repository_init(git::out_ptr(repo), dir.c_str(), 1); rc != 0) {
    error = git::last_failure(rc).message;
  }
  return repo;
}

bool has_commit(git_repository* repo, const git_oid& oid) {
  git::commit c;
  return git_commit_lookup(git::out_ptr(c), repo, &oid) == 0;
}

// Whether the commit is the tip of ref or one of its ancestors.
bool on_ref(git_repository* repo, const std::string& ref, const git_oid& oid) {
  git_oid tip;
  if (git_reference_name_to_id(&tip, repo, ref.c_str()) != 0) {
    return false;
  }
  return git_oid_equal(&tip, &oid) || git_graph_descendant_of(repo, &tip, &oid) == 1;
}

clone_error classify(const fetch_context& ctx, int rc) {
  if (ctx.cancelled) {
    return make_error(clone_errc::cancelled, "Clone cancelled");
  }
  if (ctx.timed_out) {
    return make_error(clone_errc::connection_timeout, std::string(timeout_message));
  }
  if (ctx.auth_rejected || rc == GIT_EAUTH) {
    return make_error(clone_errc::authentication_failed, std::string(auth_message));
  }
  auto f = git::last_failure(rc);
  if (rc == GIT_ECERTIFICATE) {
    return make_error(clone_errc::certificate_invalid,
                      "TLS certificate verification failed: the git server's certificate is not "
                      "trusted (" + f.message + ")");
  }
  const std::string& m = f.message;
  if (m.find("status code: 401") != std::string::npos ||
      m.find("authentication required") != std::string::npos) {
    return make_error(clone_errc::authentication_failed, std::string(auth_message));
  }
  if (m.find("status code: 404") != std::string::npos ||
      m.find("not exported") != std::string::npos ||
      m.find("not found") != std::string::npos || m.find("does not appear") != std::string::npos ||
      m.find("could not find repository") != std::string::npos) {
    return make_error(clone_errc::repository_not_found, std::string(not_found_message));
  }
  if (f.klass == GIT_ERROR_NET || f.klass == GIT_ERROR_OS) {
    return make_error(clone_errc::connection_timeout,
                      std::string(timeout_message) + " (" + m + ")");
  }
  return make_error(clone_errc::other, "Clone failed: " + m);
}

clone_outcome fetch(git_repository* repo, const clone_request& request, fetch_context& ctx) {
  git::remote remote;
  if (int rc = git_remote_create_anonymous(git::out_ptr(remote), repo, request.git_url.c_str());
      rc != 0) {
    return make_error(clone_errc::other, "Clone failed: " + git::last_failure(rc).message);
  }
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.credentials = &on_credentials;
  opts.callbacks.transfer_progress = &on_transfer;
  opts.callbacks.sideband_progress = &on_sideband;
  opts.callbacks.payload = &ctx;
  opts.prune = GIT_FETCH_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  char heads[] = "+refs/heads/*:refs/heads/*";
  char tags[] = "+refs/tags/*:refs/tags/*";
  char* specs[] = {heads, tags};
  git_strarray refspecs{specs, 2};
  if (int rc = git_remote_fetch(remote.get(), &refspecs, &opts, nullptr); rc != 0) {
    return classify(ctx, rc);
  }
  return clone_result{};
}

}  // namespace

clone_outcome run_clone(const clone_request& request) {
  git::ensure_initialised();
  fetch_context ctx{request, clock::now() + request.timeout};
  if (request.cancel != nullptr && request.cancel->load()) {
    return make_error(clone_errc::cancelled, "Clone cancelled");
  }
  git_oid oid;
  if (request.sha.size() != 40 || git_oid_fromstr(&oid, request.sha.c_str()) != 0) {
    return make_error(clone_errc::commit_not_found,
                      "Commit " + request.sha + " not found on branch " + request.branch);
  }
  const std::string branch_or_ref =
      !request.branch.empty() ? request.branch
                              : (request.ref.starts_with("refs/tags/") ? request.ref.substr(10)
                                                                       : request.ref);
  const std::string check_ref =
      !request.branch.empty() ? "refs/heads/" + request.branch : request.ref;

  clone_result result;
  {
    mirror_lock lock(request.mirror_dir);
    std::string error;
    git::repository repo = open_mirror(request.mirror_dir, error);
    if (!repo) {
      return make_error(clone_errc::other, "Clone failed: cannot create the mirror: " + error);
    }
    if (!(has_commit(repo.get(), oid) && on_ref(repo.get(), check_ref, oid))) {
      if (auto endpoint = network_endpoint(request.git_url)) {
        if (auto unreachable = probe_connect(*endpoint, ctx.deadline)) {
          return make_error(clone_errc::connection_timeout,
                            std::string(timeout_message) + " (" + *unreachable + ")");
        }
      } else if (request.git_url.starts_with("file://") &&
                 !std::filesystem::exists(request.git_url.substr(7))) {
        return make_error(clone_errc::repository_not_found, std::string(not_found_message));
      }
      auto fetched = fetch(repo.get(), request, ctx);
      if (auto* e = std::get_if<clone_error>(&fetched)) {
        return *e;
      }
      result.fetched = true;
      if (!has_commit(repo.get(), oid) || !on_ref(repo.get(), check_ref, oid)) {
        return make_error(clone_errc::commit_not_found,
                          "Commit " + request.sha + " not found on branch " + branch_or_ref);
      }
    }

    // Write the commit's tree into the workspace (no .git: the mirror keeps the history).
    git::commit commit;
    git::tree tree;
    if (int rc = git_commit_lookup(git::out_ptr(commit), repo.get(), &oid); rc != 0) {
      return make_error(clone_errc::other, "Clone failed: " + git::last_failure(rc).message);
    }
    if (int rc = git_commit_tree(git::out_ptr(tree), commit.get()); rc != 0) {
      return make_error(clone_errc::other, "Clone failed: " + git::last_failure(rc).message);
    }
    std::filesystem::create_directories(request.workspace);
    git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
    co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
    std::string target = request.workspace.string();
    co.target_directory = target.c_str();
    co.progress_payload = &result.files;
    co.progress_cb = [](const char*, size_t, size_t total, void* payload) {
      *static_cast<std::size_t*>(payload) = total;
    };
    if (int rc = git_checkout_tree(repo.get(), reinterpret_cast<const git_object*>(tree.get()),
                                   &co);
        rc != 0) {
      return make_error(clone_errc::other,
                        "Checkout failed: " + git::last_failure(rc).message);
    }
    char hex[GIT_OID_HEXSZ + 1] = {};
    git_oid_tostr(hex, sizeof(hex), git_tree_id(tree.get()));
    result.tree = hex;
  }
  result.sha = request.sha;
  if (request.on_progress) {
    request.on_progress(fmt::format("Checked out {} ({} files)", request.sha.substr(0, 12),
                                    result.files));
  }
  return result;
}

}  // namespace kiwi
