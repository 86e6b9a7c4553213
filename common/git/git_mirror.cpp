#include "common/git/git_mirror.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <thread>

#include "common/base/data_dir.hpp"
#include "common/base/child_process.hpp"

namespace kiwi::git {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

constexpr const char* heads_refspec = "+refs/heads/*:refs/heads/*";
constexpr const char* tags_refspec = "+refs/tags/*:refs/tags/*";
constexpr auto progress_interval = std::chrono::milliseconds(500);

void report(const fetch_settings& settings, const std::string& line) {
  if (!settings.on_progress) {
    return;
  }
  try {
    settings.on_progress(line);
  } catch (...) {
    // Progress is advisory; it must not unwind through libgit2.
  }
}

// The remote the fetch runs on: in memory, with exactly the configured URL (no url.insteadOf
// rewriting, which also keeps clear of the leak described at configure_origin).
remote fetch_remote(git_repository* repo, const std::string& url) {
  remote r;
  git_remote_create_options opts = GIT_REMOTE_CREATE_OPTIONS_INIT;
  opts.repository = repo;
  opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
  check(git_remote_create_with_opts(out_ptr(r), url.c_str(), &opts));
  return r;
}

// What the libgit2 callbacks share with fetch_mirror().
struct fetch_context {
  explicit fetch_context(const fetch_settings& s) : settings(s), auth(s.auth) {}

  const fetch_settings& settings;
  remote_auth auth;  // owns the key file of the fallback until the fetch is over
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

int on_credentials(git_credential** out, const char* url, const char* username_from_url,
                   unsigned int allowed, void* payload) {
  auto& ctx = *static_cast<fetch_context*>(payload);
  return ctx.auth.credentials(out, url, username_from_url, allowed);
}

int on_transfer(const git_indexer_progress* stats, void* payload) {
  if (int stop = transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  auto& ctx = *static_cast<fetch_context*>(payload);
  const auto now = clock::now();
  if (now - ctx.last_progress >= progress_interval) {
    ctx.last_progress = now;
    report(ctx.settings, fetch_line(*stats, false));
  }
  return 0;
}

int on_sideband(const char* /*text*/, int /*len*/, void* /*payload*/) {
  return transfer_scope::checkpoint();
}

int on_certificate(git_cert* cert, int valid, const char* host, void* payload) {
  auto& ctx = *static_cast<fetch_context*>(payload);
  const int rc = ctx.auth.certificate_check(cert, valid, host);
  if (rc == 0 && !ctx.auth.host_key().empty() && !ctx.host_key_reported) {
    ctx.host_key_reported = true;
    report(ctx.settings, "ssh host key " + ctx.auth.host_key() +
                             (ctx.auth.host_key_pinned()
                                  ? " (matches ssh_known_hosts)"
                                  : " (not verified: the service has no ssh_known_hosts)"));
  }
  return rc;
}

}  // namespace

mirror_lock::mirror_lock(const fs::path& mirror_dir) {
  const fs::path dir = mirror_dir.has_filename() ? mirror_dir : mirror_dir.parent_path();
  if (dir.has_parent_path()) {
    make_private_directory(dir.parent_path());  // mirrors/ or preview-mirrors/
  }
  const std::string path = dir.string() + ".lock";
  fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "cannot open " + path);
  }
}

mirror_lock::~mirror_lock() { ::close(fd_); }

void mirror_lock::acquire(int operation, clock::time_point give_up_at,
                          const std::atomic<bool>* cancel, std::string_view name) {
  for (;;) {
    if (::flock(fd_, operation | LOCK_NB) == 0) {
      return;
    }
    if (errno != EWOULDBLOCK && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "cannot lock the mirror");
    }
    if (cancel != nullptr && cancel->load()) {
      throw error(error_kind::cancelled, 0, "cancelled while waiting for the mirror");
    }
    if (clock::now() >= give_up_at) {
      throw error(error_kind::other, 0,
                  "another job kept the mirror of " + std::string(name) +
                      " locked for longer than the clone timeout");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

repository open_mirror(const fs::path& dir) {
  repository repo;
  if (fs::exists(dir)) {
    if (git_repository_open_bare(out_ptr(repo), dir.c_str()) == 0) {
      return repo;
    }
    fs::remove_all(dir);
  }
  check(git_repository_init(out_ptr(repo), dir.c_str(), 1));
  return repo;
}

// Written as plain config: libgit2 1.5's git_remote_create and git_remote_lookup scan
// url.insteadOf with a regex that leaks pcre2 match data per entry.
bool configure_origin(git_repository* repo, const std::string& url) {
  config snapshot;
  check(git_repository_config_snapshot(out_ptr(snapshot), repo));
  const char* current = nullptr;
  const int rc = git_config_get_string(&current, snapshot.get(), "remote.origin.url");
  if (rc != GIT_ENOTFOUND) {
    check(rc);
  }
  const bool changed = rc == 0 && url != current;
  if (rc == 0 && !changed) {
    return false;
  }
  config writable;
  check(git_repository_config(out_ptr(writable), repo));
  check(git_config_set_string(writable.get(), "remote.origin.url", url.c_str()));
  if (rc == GIT_ENOTFOUND) {
    check(git_config_set_multivar(writable.get(), "remote.origin.fetch", "^$", heads_refspec));
    check(git_config_set_multivar(writable.get(), "remote.origin.fetch", "^$", tags_refspec));
  }
  return changed;
}

// libgit2 1.5 has no connect or read timeout, and a server that accepts and then sends nothing
// blocks it inside a read where no callback runs, so Kiwi's socket stream
// (common/git/socket_stream.cpp) checks the deadline and the cancel flag on every connect, read
// and write; the callbacks check them in between. Over ssh, libssh2 reads the socket itself:
// there only the connect and the callbacks are bounded, and a silent ssh server still blocks the
// fetch.
void fetch_mirror(git_repository* repo, const fetch_settings& settings) {
  const remote origin = fetch_remote(repo, settings.auth.url);
  fetch_context ctx{settings};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.credentials = &on_credentials;
  opts.callbacks.transfer_progress = &on_transfer;
  opts.callbacks.sideband_progress = &on_sideband;
  opts.callbacks.certificate_check = &on_certificate;
  opts.callbacks.payload = &ctx;
  opts.prune = GIT_FETCH_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;  // the tags refspec fetches them all
  opts.update_fetchhead = 0;
  opts.follow_redirects = follow_redirects;
  std::string heads = heads_refspec;
  std::string tags = tags_refspec;
  char* specs[] = {heads.data(), tags.data()};
  const git_strarray refspecs{specs, 2};
  {
    transfer_scope scope(settings.deadline, settings.cancel);
    check(git_remote_fetch(origin.get(), &refspecs, &opts, nullptr));
  }
  if (const git_indexer_progress* stats = git_remote_stats(origin.get()); stats != nullptr) {
    report(settings, fetch_line(*stats, true));
  }
}

bool has_commit(git_repository* repo, const git_oid& id) {
  commit c;
  return git_commit_lookup(out_ptr(c), repo, &id) == 0;
}

bool reachable_from(git_repository* repo, const std::string& ref_name, const git_oid& id) {
  if (ref_name.empty()) {
    return true;
  }
  reference ref;
  object tip;
  // Separate statements: out_ptr fills its handle at the end of the full expression.
  if (git_reference_lookup(out_ptr(ref), repo, ref_name.c_str()) != 0) {
    return false;
  }
  if (git_reference_peel(out_ptr(tip), ref.get(), GIT_OBJECT_COMMIT) != 0) {
    return false;
  }
  const git_oid* tip_id = git_object_id(tip.get());
  return git_oid_equal(tip_id, &id) != 0 || git_graph_descendant_of(repo, tip_id, &id) == 1;
}

namespace {

std::size_t pack_count(const std::filesystem::path& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it(dir / "objects" / "pack", ec), end;
       !ec && it != end; it.increment(ec)) {
    n += it->path().extension() == ".pack";
  }
  return n;
}

}  // namespace

repack_outcome repack_if_needed(const std::filesystem::path& dir, std::size_t max_packs,
                                std::chrono::steady_clock::time_point deadline,
                                const std::atomic<bool>* cancel) {
  repack_outcome out;
  const std::size_t packs = pack_count(dir);
  if (max_packs == 0 || packs <= max_packs) {
    return out;
  }
  child_request git;
  git.argv = {"git", "-C", dir.string(), "repack", "-a", "-d", "-q"};
  git.env = environment_subset({"PATH", "HOME", "TMPDIR"});
  set_environment(git.env, "GIT_CONFIG_NOSYSTEM", "1");
  git.deadline = deadline;
  git.cancel = cancel;
  const child_result r = run_child(git);
  if (!r.succeeded()) {
    out.report = "Repacking the mirror (" + std::to_string(packs) + " packs) failed (" +
                 r.describe() + "); continuing";
    return out;
  }
  out.repacked = true;
  out.report = "Repacked the mirror: " + std::to_string(packs) + " packs into " +
               std::to_string(pack_count(dir));
  return out;
}

}  // namespace kiwi::git
