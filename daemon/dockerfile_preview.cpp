#include "daemon/dockerfile_preview.hpp"

#include <sys/file.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "common/git/git.hpp"
#include "common/git/git_mirror.hpp"
#include "common/git/git_tree_view.hpp"

namespace kiwi {
namespace {

using clock = std::chrono::steady_clock;

// As the build stage stores it with the build (worker/build_stage.cpp).
constexpr std::size_t max_shown_dockerfile = 256 * 1024;
constexpr std::string_view generated_dockerfile = ".kiwi/Dockerfile";
constexpr std::size_t listed_branches = 10;

// A failure that is not libgit2's: an unknown ref, a Dockerfile that cannot be used.
struct preview_failure {
  dockerfile_preview_error error;
};

bool full_commit_id(std::string_view s) {
  return s.size() == GIT_OID_HEXSZ && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

struct resolved_ref {
  std::string name;  // empty for a commit id
  git_oid id;
};

// A full ref name, or a name tried as a branch and then as a tag, peeled to its commit; or a
// full commit id the mirror has.
std::optional<resolved_ref> resolve(git_repository* repo, const std::string& wanted) {
  if (full_commit_id(wanted)) {
    git_oid id;
    if (git_oid_fromstrn(&id, wanted.data(), wanted.size()) == 0 && git::has_commit(repo, id)) {
      return resolved_ref{"", id};
    }
    return std::nullopt;
  }
  std::vector<std::string> candidates;
  if (wanted.starts_with("refs/")) {
    candidates.push_back(wanted);
  } else {
    candidates.push_back("refs/heads/" + wanted);
    candidates.push_back("refs/tags/" + wanted);
  }
  for (const auto& name : candidates) {
    git::reference ref;
    git::object tip;
    // Separate statements: out_ptr fills its handle at the end of the full expression.
    if (git_reference_lookup(git::out_ptr(ref), repo, name.c_str()) != 0) {
      continue;
    }
    if (git_reference_peel(git::out_ptr(tip), ref.get(), GIT_OBJECT_COMMIT) != 0) {
      continue;
    }
    return resolved_ref{name, *git_object_id(tip.get())};
  }
  return std::nullopt;
}

// "main, develop, feature-x (and 3 more)", or "none".
std::string branch_list(git_repository* repo) {
  std::vector<std::string> names;
  git_reference_iterator* raw = nullptr;
  if (git_reference_iterator_glob_new(&raw, repo, "refs/heads/*") == 0) {
    const std::unique_ptr<git_reference_iterator, git::deleter<git_reference_iterator_free>> it(
        raw);
    const char* name = nullptr;
    while (git_reference_next_name(&name, it.get()) == 0) {
      names.emplace_back(std::string_view(name).substr(std::string_view("refs/heads/").size()));
    }
  }
  if (names.empty()) {
    return "none";
  }
  std::sort(names.begin(), names.end());
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < listed_branches; ++i) {
    out += (i == 0 ? "" : ", ") + names[i];
  }
  if (names.size() > listed_branches) {
    out += " (and " + std::to_string(names.size() - listed_branches) + " more)";
  }
  return out;
}

preview_failure ref_not_found(git_repository* repo, const std::string& wanted) {
  std::string message;
  if (full_commit_id(wanted)) {
    message = "ref: commit " + wanted + " is not in the repository";
  } else if (wanted.starts_with("refs/")) {
    message = "ref: \"" + wanted + "\" is not in the repository";
  } else {
    message = "ref: the repository has no branch or tag \"" + wanted + "\"";
  }
  message += "; its branches: " + branch_list(repo);
  return {{"ref_not_found", std::move(message), "ref", wanted, ""}};
}

std::string hex_of(const git_oid& id) {
  char hex[GIT_OID_HEXSZ + 1] = {};
  git_oid_tostr(hex, sizeof(hex), &id);
  return hex;
}

// What is shown of a Dockerfile: masked like the build log, and capped like the build record.
std::string shown(std::string text, const redactor& secrets) {
  secrets.redact_in_place(text);
  if (text.size() > max_shown_dockerfile) {
    text.resize(max_shown_dockerfile);
    text += "\n# (truncated by Kiwi)\n";
  }
  return text;
}

dockerfile_preview_error dockerfile_failure(const dockerfile_error& e, bool wizard,
                                            const dockerfile_preview& at) {
  // The build stage's wording (worker/build_stage.cpp), so the preview reads like the build.
  std::string message = wizard ? "Dockerfile wizard (" + e.field + "): " + e.message
                               : "Dockerfile not found or not usable (" + e.field + "): " +
                                     e.message;
  return {"dockerfile", std::move(message), e.field, at.ref, at.sha};
}

void describe(const git_tree_view& view, const dockerfile_preview_request& request,
              dockerfile_preview& out) {
  const service_config& service = request.service;
  if (out.mode == "wizard") {
    const std::string language = request.language.value_or(service.dockerfile.language);
    const std::string framework = request.framework.value_or(service.dockerfile.framework);
    auto generated = generate_dockerfile(view, language, framework, request.images);
    if (auto* e = std::get_if<dockerfile_error>(&generated)) {
      throw preview_failure{dockerfile_failure(*e, true, out)};
    }
    auto& wizard = std::get<wizard_output>(generated);
    out.dockerfile_path = std::string(generated_dockerfile);
    out.context = ".";
    out.dockerfile = shown(std::move(wizard.dockerfile), request.secrets);
    out.dockerignore = shown(std::move(wizard.dockerignore), request.secrets);
    out.repository_dockerignore = view.read(".dockerignore", repo_view::default_read_limit)
                                      .has_value();
    out.generated_by = request.secrets.redact(wizard.summary);
    out.language = wizard.language;
    out.framework = wizard.framework;
    out.package_manager = wizard.tool;
    return;
  }
  auto located = out.mode == "path"
                     ? resolve_dockerfile_path(view, service.dockerfile.path,
                                               service.dockerfile.context)
                     : locate_root_dockerfile(view);
  if (auto* e = std::get_if<dockerfile_error>(&located)) {
    throw preview_failure{dockerfile_failure(*e, false, out)};
  }
  const auto& where = std::get<dockerfile_location>(located);
  out.dockerfile_path = where.path;
  out.context = where.context;
  auto text = view.read(where.path, repo_view::default_read_limit);
  out.dockerfile = text ? shown(std::move(*text), request.secrets)
                        : "# (larger than 4 MiB: not shown by the preview)\n";
}

dockerfile_preview run_preview(const dockerfile_preview_request& request,
                               const std::string& wanted) {
  git::ensure_initialised();
  const service_config& service = request.service;
  dockerfile_preview out;
  out.mode = request.mode;
  if (out.mode.empty()) {
    out.mode = request.language || request.framework ? "wizard" : service.dockerfile.mode;
  }
  if (out.mode != "auto" && out.mode != "path" && out.mode != "wizard") {
    throw preview_failure{{"dockerfile",
                           "mode: must be auto, path or wizard (dockerfile mode \"" + out.mode +
                               "\" builds no image)",
                           "mode", wanted, ""}};
  }

  // Another preview of the service holds the lock for one fetch at most.
  git::mirror_lock lock(request.mirror_dir);
  lock.acquire(LOCK_EX, clock::now() + 2 * request.timeout, nullptr, service.name);
  git::repository repo = git::open_mirror(request.mirror_dir);
  const bool url_changed = git::configure_origin(repo.get(), service.git_url);
  // A named ref is fetched every time (its head may have moved); a known commit is not.
  std::optional<resolved_ref> found;
  if (!url_changed && full_commit_id(wanted)) {
    found = resolve(repo.get(), wanted);
  }
  if (!found) {
    git::fetch_settings fetch;
    fetch.auth.url = service.git_url;
    fetch.auth.username = service.git_username;
    fetch.auth.token = service.token;
    fetch.auth.ssh_key = service.ssh_key;
    fetch.auth.ssh_known_hosts = service.ssh_known_hosts;
    fetch.deadline = clock::now() + request.timeout;
    git::fetch_mirror(repo.get(), fetch);
    out.fetched = true;
    // Each preview that fetched something added a pack, as the worker's fetches do.
    if (git::repack_if_needed(request.mirror_dir, request.max_packs,
                              clock::now() + 10 * request.timeout, nullptr)
            .repacked) {
      repo = git::open_mirror(request.mirror_dir);
    }
  }
  // Readers share the mirror; only a fetch excludes them.
  lock.acquire(LOCK_SH, clock::now() + 2 * request.timeout, nullptr, service.name);
  if (!found) {
    found = resolve(repo.get(), wanted);
  }
  if (!found) {
    throw ref_not_found(repo.get(), wanted);
  }
  out.ref = found->name;
  out.sha = hex_of(found->id);

  git::commit commit;
  git::tree tree;
  git::check(git_commit_lookup(git::out_ptr(commit), repo.get(), &found->id));
  git::check(git_commit_tree(git::out_ptr(tree), commit.get()));
  const git_tree_view view(std::move(tree));
  describe(view, request, out);
  return out;
}

// The connection test's messages (common/git/remote_probe.cpp) for a fetch that failed.
dockerfile_preview_error git_failure(const git::error& e, const redactor& secrets,
                                     const std::string& wanted) {
  const std::string detail = secrets.redact(e.detail());
  dockerfile_preview_error out;
  out.ref = wanted;
  switch (e.kind()) {
    case git::error_kind::authentication:
      out.kind = "authentication";
      out.message = git::authentication_message(e);
      break;
    case git::error_kind::host_key:
      out.kind = "host_key";
      out.message = detail;
      break;
    case git::error_kind::denied:
      out.kind = "denied";
      out.message = "Preview refused by Kiwi's settings: " + detail;
      break;
    case git::error_kind::not_found:
      out.kind = "not_found";
      out.message = std::string(git::repository_not_found_message);
      break;
    case git::error_kind::timeout:
    case git::error_kind::cancelled:
      out.kind = "timeout";
      out.message = std::string(git::connection_timeout_message) +
                    (detail.empty() ? "" : " (" + detail + ")");
      break;
    case git::error_kind::certificate:
      out.kind = "certificate";
      out.message = std::string(git::certificate_message_prefix) + " (" + detail + ")";
      break;
    case git::error_kind::other:
      out.kind = "other";
      out.message = "Fetching the repository failed: " + detail;
      break;
  }
  return out;
}

}  // namespace

dockerfile_preview_outcome preview_dockerfile(const dockerfile_preview_request& request) {
  const std::string wanted =
      request.ref.empty() ? "refs/heads/" + request.service.branch : request.ref;
  try {
    return run_preview(request, wanted);
  } catch (preview_failure& f) {
    request.secrets.redact_in_place(f.error.message);
    return std::move(f.error);
  } catch (const git::error& e) {
    return git_failure(e, request.secrets, wanted);
  } catch (const std::exception& e) {
    dockerfile_preview_error out;
    out.kind = "other";
    out.message = "Preview failed: " + request.secrets.redact(git::scrub_credentials(e.what()));
    out.ref = wanted;
    return out;
  }
}

}  // namespace kiwi
