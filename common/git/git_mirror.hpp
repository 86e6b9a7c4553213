#pragma once
// A bare mirror of a remote repository kept on disk and fetched into incrementally: every branch
// and tag (+refs/heads/*, +refs/tags/*), pruned, with the service's credentials
// (git::remote_auth) under a deadline and a cancel flag. The worker's clone stage keeps one per
// service under data_dir/mirrors, kiwid's Dockerfile preview its own under
// data_dir/preview-mirrors. Blocking (libgit2): run it on a blocking pool.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/git/git.hpp"

namespace kiwi::git {

// flock() on <mirror>.lock: exclusive while the mirror is opened, repaired and fetched, shared
// while readers (checkouts, previews) use it. flock() locks per open file, so it orders the
// threads of one process as well as the processes of the host.
class mirror_lock {
 public:
  explicit mirror_lock(const std::filesystem::path& mirror_dir);  // throws std::system_error
  ~mirror_lock();  // closing releases the lock
  mirror_lock(const mirror_lock&) = delete;
  mirror_lock& operator=(const mirror_lock&) = delete;

  // Takes or converts to `operation` (LOCK_EX or LOCK_SH), polling until give_up_at. Throws
  // error(cancelled) once *cancel is set, and error(other, "another job kept the mirror of
  // <name> locked ...") at give_up_at.
  void acquire(int operation, std::chrono::steady_clock::time_point give_up_at,
               const std::atomic<bool>* cancel, std::string_view name);

 private:
  int fd_ = -1;
};

// Opens the bare mirror at dir, or makes it. A mirror that does not open is a broken cache: it
// is removed and made again, once.
repository open_mirror(const std::filesystem::path& dir);

// Points the mirror's remote "origin" at url (for people inspecting the mirror); true when it
// pointed elsewhere before.
bool configure_origin(git_repository* repo, const std::string& url);

struct fetch_settings {
  remote_auth::settings auth;  // URL and credentials; holds secrets
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::string_view line)> on_progress;  // throttled; never sees a secret
};

// Fetches all branches and tags from settings.auth.url into the mirror, pruning what the remote
// deleted. Throws git::error (authentication, not_found, timeout, certificate, host_key,
// cancelled, other).
void fetch_mirror(git_repository* repo, const fetch_settings& settings);

// libgit2 adds a pack per fetch and cannot repack: every object lookup searches every pack's
// index, so a mirror fetched into a thousand times slows down with each fetch. When the mirror
// at dir holds more than max_packs packs, `git repack -a -d` merges them (the caller holds the
// exclusive lock, and reopens its repository afterwards: the old packs are gone). Best effort:
// what happened, for the progress log ("" when nothing was needed); never throws.
inline constexpr std::size_t default_max_packs = 50;
struct repack_outcome {
  bool repacked = false;
  std::string report;  // e.g. "Repacked the mirror: 51 packs into 1"
};
repack_outcome repack_if_needed(const std::filesystem::path& dir, std::size_t max_packs,
                                std::chrono::steady_clock::time_point deadline,
                                const std::atomic<bool>* cancel);

bool has_commit(git_repository* repo, const git_oid& id);

// Whether the commit is what ref_name points to (tags peeled) or one of its ancestors; true for
// an empty ref_name.
bool reachable_from(git_repository* repo, const std::string& ref_name, const git_oid& id);

}  // namespace kiwi::git
