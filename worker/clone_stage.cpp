#include "worker/clone_stage.hpp"

#include <sys/file.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <system_error>

#include "common/git/git.hpp"
#include "common/git/git_mirror.hpp"

namespace kiwi {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

constexpr std::string_view not_found_message = git::repository_not_found_message;
constexpr std::string_view timeout_message = git::connection_timeout_message;
constexpr std::string_view cancelled_message = "Clone cancelled";

// A failure that is not libgit2's: unknown commit, cancel.
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
    case git::error_kind::denied:
      return {clone_errc::host_denied, "Clone refused by Kiwi's settings: " + detail};
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

git::remote_auth::settings auth_settings(const clone_request& request) {
  git::remote_auth::settings s;
  s.url = request.git_url;
  s.username = request.username;
  s.token = request.token;
  s.ssh_key = request.ssh_key;
  s.ssh_known_hosts = request.ssh_known_hosts;
  return s;
}

// Another job holds the mirror lock for one fetch (bounded by the clone timeout) plus a
// checkout; twice the timeout means something is stuck.
void lock_mirror(git::mirror_lock& lock, int operation, const clone_request& request) {
  lock.acquire(operation, clock::now() + 2 * request.timeout, request.cancel, request.service);
}

void fetch(git_repository* repo, const clone_request& request) {
  git::fetch_settings settings;
  settings.auth = auth_settings(request);
  settings.deadline = clock::now() + request.timeout;
  settings.cancel = request.cancel;
  settings.on_progress = [&request](std::string_view line) { report(request, std::string(line)); };
  git::fetch_mirror(repo, settings);
}

// git's modes for what libgit2 wrote under the process's umask (UMask=0077 under systemd): the
// build context's modes become the image's, and a 0600 file is unreadable to an image's
// non-root user. Links are left alone; the workspace itself sits in the private workspaces/.
void normalise_modes(const fs::path& workspace) {
  constexpr auto file_mode = fs::perms::owner_read | fs::perms::owner_write |
                             fs::perms::group_read | fs::perms::others_read;  // 0644
  constexpr auto exec_bits =
      fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
  fs::permissions(workspace, file_mode | exec_bits);
  for (const auto& entry : fs::recursive_directory_iterator(workspace)) {
    const fs::file_status st = entry.symlink_status();
    if (fs::is_directory(st)) {
      fs::permissions(entry.path(), file_mode | exec_bits);
    } else if (fs::is_regular_file(st)) {
      const bool executable = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
      fs::permissions(entry.path(), executable ? file_mode | exec_bits : file_mode);
    }
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
  normalise_modes(workspace);

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
  git::mirror_lock lock(request.mirror_dir);
  lock_mirror(lock, LOCK_EX, request);
  git::repository repo = git::open_mirror(request.mirror_dir);
  const bool url_changed = git::configure_origin(repo.get(), request.git_url);
  if (url_changed || !git::has_commit(repo.get(), id) ||
      !git::reachable_from(repo.get(), ref, id)) {
    throw_if_cancelled(request);
    fetch(repo.get(), request);
    result.fetched = true;
    if (!git::has_commit(repo.get(), id) || !git::reachable_from(repo.get(), ref, id)) {
      throw commit_not_found(request);
    }
    // Generous: it runs once per repack_after_packs pushes, and a cancel still stops it.
    const auto repack_deadline =
        clock::now() + std::max<clock::duration>(10 * request.timeout, std::chrono::minutes(5));
    const auto repack = git::repack_if_needed(request.mirror_dir, request.repack_after_packs,
                                              repack_deadline, request.cancel);
    if (!repack.report.empty()) {
      report(request, repack.report);
    }
    if (repack.repacked) {
      repo = git::open_mirror(request.mirror_dir);
    }
  }
  // Checkouts of one service may run side by side; only a fetch or repair excludes them.
  lock_mirror(lock, LOCK_SH, request);
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
