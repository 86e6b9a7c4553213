#include "worker/clone_stage.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <system_error>
#include <thread>

#include "common/git.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

constexpr std::string_view not_found_message = git::repository_not_found_message;
constexpr std::string_view timeout_message = git::connection_timeout_message;
constexpr std::string_view cancelled_message = "Clone cancelled";

constexpr const char* heads_refspec = "+refs/heads/*:refs/heads/*";
constexpr const char* tags_refspec = "+refs/tags/*:refs/tags/*";
constexpr auto progress_interval = std::chrono::milliseconds(500);

// A failure that is not libgit2's: unknown commit, cancel, busy mirror.
struct stage_failure {
  clone_error error;
};

// Replaces the token and the key, in case some message quotes them.
std::string without_secrets(std::string text, const clone_request& request) {
  for (const std::string* secret : {&request.token, &request.ssh_key}) {
    std::string value = *secret;
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
      value.pop_back();
    }
    if (value.empty()) {
      continue;
    }
    constexpr std::string_view mask = "***";
    for (auto at = text.find(value); at != std::string::npos;
         at = text.find(value, at + mask.size())) {
      text.replace(at, value.size(), mask);
    }
  }
  return text;
}

clone_error to_clone_error(const git::error& e, const clone_request& request) {
  const std::string detail = without_secrets(e.detail(), request);
  switch (e.kind()) {
    case git::error_kind::authentication:
      return {clone_errc::authentication_failed, git::authentication_message(e)};
    case git::error_kind::host_key:
      return {clone_errc::certificate_invalid, detail};
    case git::error_kind::not_found:
      return {clone_errc::repository_not_found, std::string(not_found_message)};
    case git::error_kind::timeout:
      return {clone_errc::connection_timeout,
              detail.empty() ? std::string(timeout_message)
                             : std::string(timeout_message) + " (" + detail + ")"};
    case git::error_kind::certificate:
      return {clone_errc::certificate_invalid,
              std::string(git::certificate_message_prefix) + " (" + detail + ")"};
    case git::error_kind::cancelled:
      return {clone_errc::cancelled, std::string(cancelled_message)};
    case git::error_kind::other:
      break;
  }
  return {clone_errc::other, "Clone failed: " + detail};
}

bool cancel_requested(const clone_request& request) {
  return request.cancel != nullptr && request.cancel->load();
}

void throw_if_cancelled(const clone_request& request) {
  if (cancel_requested(request)) {
    throw stage_failure{{clone_errc::cancelled, std::string(cancelled_message)}};
  }
}

// The branch named in "not found" messages: the branch, else the pushed ref's short name.
std::string branch_label(const clone_request& request) {
  if (!request.branch.empty()) {
    return request.branch;
  }
  for (std::string_view prefix : {"refs/heads/", "refs/tags/", "refs/"}) {
    if (request.ref.starts_with(prefix)) {
      return request.ref.substr(prefix.size());
    }
  }
  return request.ref;
}

stage_failure commit_not_found(const clone_request& request) {
  return {{clone_errc::commit_not_found,
           "Commit " + request.sha + " not found on branch " + branch_label(request)}};
}

void report(const clone_request& request, const std::string& line) {
  if (!request.on_progress) {
    return;
  }
  try {
    request.on_progress(line);
  } catch (...) {
    // Progress is advisory; it must not unwind through libgit2.
  }
}

// flock() on <mirror>.lock: exclusive while the mirror is opened, repaired and fetched, shared
// while checkouts read it. flock() locks per open file, so it orders the threads of this process
// as well as other processes on the host.
class mirror_lock {
 public:
  explicit mirror_lock(const fs::path& mirror_dir) {
    const fs::path dir = mirror_dir.has_filename() ? mirror_dir : mirror_dir.parent_path();
    if (dir.has_parent_path()) {
      fs::create_directories(dir.parent_path());
    }
    const std::string path = dir.string() + ".lock";
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "cannot open " + path);
    }
  }
  ~mirror_lock() { ::close(fd_); }  // closing releases the lock
  mirror_lock(const mirror_lock&) = delete;
  mirror_lock& operator=(const mirror_lock&) = delete;

  // Takes or converts to `operation` (LOCK_EX or LOCK_SH). Another job holds it for one fetch
  // (bounded by the clone timeout) plus a checkout; twice the timeout means something is stuck.
  void acquire(int operation, const clone_request& request) {
    const auto give_up_at = clock::now() + 2 * request.timeout;
    for (;;) {
      if (::flock(fd_, operation | LOCK_NB) == 0) {
        return;
      }
      if (errno != EWOULDBLOCK && errno != EINTR) {
        throw std::system_error(errno, std::generic_category(), "cannot lock the mirror");
      }
      throw_if_cancelled(request);
      if (clock::now() >= give_up_at) {
        throw stage_failure{{clone_errc::other,
                             "Clone failed: another job kept the mirror of " + request.service +
                                 " locked for longer than the clone timeout"}};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  int fd_ = -1;
};

git::repository open_mirror(const fs::path& dir) {
  git::repository repo;
  if (fs::exists(dir)) {
    if (git_repository_open_bare(git::out_ptr(repo), dir.c_str()) == 0) {
      return repo;
    }
    // A mirror that does not open is a broken cache: start it again, once.
    fs::remove_all(dir);
  }
  git::check(git_repository_init(git::out_ptr(repo), dir.c_str(), 1));
  return repo;
}

// Points the mirror's remote "origin" at url (for people inspecting the mirror); true when it
// pointed elsewhere before. Written as plain config: libgit2 1.5's git_remote_create and
// git_remote_lookup scan url.insteadOf with a regex that leaks pcre2 match data per entry.
bool configure_origin(git_repository* repo, const std::string& url) {
  git::config snapshot;
  git::check(git_repository_config_snapshot(git::out_ptr(snapshot), repo));
  const char* current = nullptr;
  const int rc = git_config_get_string(&current, snapshot.get(), "remote.origin.url");
  if (rc != GIT_ENOTFOUND) {
    git::check(rc);
  }
  const bool changed = rc == 0 && url != current;
  if (rc == 0 && !changed) {
    return false;
  }
  git::config config;
  git::check(git_repository_config(git::out_ptr(config), repo));
  git::check(git_config_set_string(config.get(), "remote.origin.url", url.c_str()));
  if (rc == GIT_ENOTFOUND) {
    git::check(git_config_set_multivar(config.get(), "remote.origin.fetch", "^$", heads_refspec));
    git::check(git_config_set_multivar(config.get(), "remote.origin.fetch", "^$", tags_refspec));
  }
  return changed;
}

// The remote the fetch runs on: in memory, with exactly the configured URL (no url.insteadOf
// rewriting, which also keeps clear of the leak above).
git::remote fetch_remote(git_repository* repo, const std::string& url) {
  git::remote remote;
  git_remote_create_options opts = GIT_REMOTE_CREATE_OPTIONS_INIT;
  opts.repository = repo;
  opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
  git::check(git_remote_create_with_opts(git::out_ptr(remote), url.c_str(), &opts));
  return remote;
}

bool has_commit(git_repository* repo, const git_oid& id) {
  git::commit c;
  return git_commit_lookup(git::out_ptr(c), repo, &id) == 0;
}

// Whether the commit is what ref points to (tags peeled) or one of its ancestors.
bool reachable_from(git_repository* repo, const std::string& ref_name, const git_oid& id) {
  if (ref_name.empty()) {
    return true;
  }
  git::reference ref;
  git::object tip;
  // Separate statements: out_ptr fills its handle at the end of the full expression.
  if (git_reference_lookup(git::out_ptr(ref), repo, ref_name.c_str()) != 0) {
    return false;
  }
  if (git_reference_peel(git::out_ptr(tip), ref.get(), GIT_OBJECT_COMMIT) != 0) {
    return false;
  }
  const git_oid* tip_id = git_object_id(tip.get());
  return git_oid_equal(tip_id, &id) != 0 || git_graph_descendant_of(repo, tip_id, &id) == 1;
}

git::remote_auth::settings auth_settings(const clone_request& request) {
  git::remote_auth::settings s;
  s.url = request.git_url;
  s.username = request.username;
  s.token = request.token;
  s.ssh_key = request.ssh_key;
  s.ssh_known_hosts = request.ssh_known_hosts;
  return s;
}

// What the libgit2 callbacks share with fetch().
struct fetch_context {
  explicit fetch_context(const clone_request& r) : request(r), auth(auth_settings(r)) {}

  const clone_request& request;
  git::remote_auth auth;  // owns the key file of the fallback until the fetch is over
  clock::time_point last_progress{};
  bool host_key_reported = false;
};

std::string fetch_line(const git_indexer_progress& stats, bool done) {
  char line[160];
  std::snprintf(line, sizeof(line), "Fetching origin: %u/%u objects, %.1f MiB%s",
                stats.received_objects, stats.total_objects,
                static_cast<double>(stats.received_bytes) / (1024.0 * 1024.0),
                done ? ", done" : "");
  return line;
}

int on_credentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                   unsigned int allowed, void* payload) {
  auto& ctx = *static_cast<fetch_context*>(payload);
  return ctx.auth.credentials(out, username_from_url, allowed);
}

int on_transfer(const git_indexer_progress* stats, void* payload) {
  if (int stop = git::transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  auto& ctx = *static_cast<fetch_context*>(payload);
  const auto now = clock::now();
  if (now - ctx.last_progress >= progress_interval) {
    ctx.last_progress = now;
    report(ctx.request, fetch_line(*stats, false));
  }
  return 0;
}

int on_sideband(const char* /*text*/, int /*len*/, void* /*payload*/) {
  return git::transfer_scope::checkpoint();
}

int on_certificate(git_cert* cert, int valid, const char* host, void* payload) {
  auto& ctx = *static_cast<fetch_context*>(payload);
  const int rc = ctx.auth.certificate_check(cert, valid, host);
  if (rc == 0 && !ctx.auth.host_key().empty() && !ctx.host_key_reported) {
    ctx.host_key_reported = true;
    report(ctx.request, "ssh host key " + ctx.auth.host_key() +
                            (ctx.auth.host_key_pinned()
                                 ? " (matches ssh_known_hosts)"
                                 : " (not verified: the service has no ssh_known_hosts)"));
  }
  return rc;
}

// Fetches all branches and tags into the mirror, pruning what the remote deleted. The deadline
// and cancel flag cover connect and transfer. libgit2 1.5 has no connect or read timeout, and a
// server that accepts and then sends nothing blocks it inside a read where no callback runs, so
// Kiwi's socket stream (common/git.cpp) checks both on every connect, read and write; the
// callbacks check them in between. Over ssh, libssh2 reads the socket itself: there only the
// connect and the callbacks are bounded, and a silent ssh server still blocks the fetch.
void fetch(git_remote* remote, const clone_request& request) {
  fetch_context ctx{request};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.credentials = &on_credentials;
  opts.callbacks.transfer_progress = &on_transfer;
  opts.callbacks.sideband_progress = &on_sideband;
  opts.callbacks.certificate_check = &on_certificate;
  opts.callbacks.payload = &ctx;
  opts.prune = GIT_FETCH_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;  // the tags refspec fetches them all
  opts.update_fetchhead = 0;
  std::string heads = heads_refspec;
  std::string tags = tags_refspec;
  char* specs[] = {heads.data(), tags.data()};
  const git_strarray refspecs{specs, 2};
  {
    git::transfer_scope scope(clock::now() + request.timeout, request.cancel);
    git::check(git_remote_fetch(remote, &refspecs, &opts, nullptr));
  }
  if (const git_indexer_progress* stats = git_remote_stats(remote); stats != nullptr) {
    report(request, fetch_line(*stats, true));
  }
}

// Writes the commit's tree into the workspace; no .git there, the mirror keeps the history.
void check_out(git_repository* repo, const git_oid& id, const fs::path& workspace,
               clone_result& result) {
  git::commit commit;
  git::tree tree;
  git::check(git_commit_lookup(git::out_ptr(commit), repo, &id));
  git::check(git_commit_tree(git::out_ptr(tree), commit.get()));

  // The workspace is new per build; a leftover of an interrupted attempt must not mix in.
  fs::remove_all(workspace);
  fs::create_directories(workspace);
  git::index empty;
  git::check(git_index_new(git::out_ptr(empty)));
  git_checkout_options opts = GIT_CHECKOUT_OPTIONS_INIT;
  opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
  opts.baseline_index = empty.get();  // every entry of the tree is new to the workspace
  const std::string target = workspace.string();
  opts.target_directory = target.c_str();
  std::size_t written = 0;
  opts.progress_payload = &written;
  opts.progress_cb = [](const char* path, size_t completed, size_t, void* payload) {
    if (path != nullptr) {
      *static_cast<std::size_t*>(payload) = completed;
    }
  };
  git::check(git_checkout_tree(repo, reinterpret_cast<const git_object*>(tree.get()), &opts));

  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof(hex), git_tree_id(tree.get()));
  result.tree = hex;
  result.files = written;
}

clone_result clone(const clone_request& request) {
  git::ensure_initialised();
  throw_if_cancelled(request);
  git_oid id;
  if (request.sha.size() != GIT_OID_HEXSZ ||
      git_oid_fromstrn(&id, request.sha.data(), request.sha.size()) != 0) {
    throw commit_not_found(request);
  }
  const std::string ref =
      !request.branch.empty() ? "refs/heads/" + request.branch : request.ref;

  clone_result result;
  result.sha = request.sha;
  mirror_lock lock(request.mirror_dir);
  lock.acquire(LOCK_EX, request);
  git::repository repo = open_mirror(request.mirror_dir);
  const bool url_changed = configure_origin(repo.get(), request.git_url);
  if (url_changed || !has_commit(repo.get(), id) || !reachable_from(repo.get(), ref, id)) {
    throw_if_cancelled(request);
    fetch(fetch_remote(repo.get(), request.git_url).get(), request);
    result.fetched = true;
    if (!has_commit(repo.get(), id) || !reachable_from(repo.get(), ref, id)) {
      throw commit_not_found(request);
    }
  }
  // Checkouts of one service may run side by side; only a fetch or repair excludes them.
  lock.acquire(LOCK_SH, request);
  throw_if_cancelled(request);
  check_out(repo.get(), id, request.workspace, result);
  char line[96];
  std::snprintf(line, sizeof(line), "Checked out %.12s (%zu files)", request.sha.c_str(),
                result.files);
  report(request, line);
  return result;
}

}  // namespace

clone_outcome run_clone(const clone_request& request) {
  try {
    return clone(request);
  } catch (const stage_failure& f) {
    return f.error;
  } catch (const git::error& e) {
    return to_clone_error(e, request);
  } catch (const std::exception& e) {
    return clone_error{clone_errc::other,
                       "Clone failed: " + without_secrets(git::scrub_credentials(e.what()), request)};
  }
}

}  // namespace kiwi
