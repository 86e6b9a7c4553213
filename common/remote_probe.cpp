#include "common/remote_probe.hpp"

#include <algorithm>

#include "common/git.hpp"

namespace kiwi {
namespace {

struct probe_context {
  const probe_request& request;
  int credential_requests = 0;
};

int on_credentials(git_credential** out, const char*, const char*, unsigned int allowed,
                   void* payload) {
  auto& ctx = *static_cast<probe_context*>(payload);
  if (ctx.request.token.empty() || (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0) {
    return GIT_PASSTHROUGH;
  }
  if (++ctx.credential_requests > 1) {  // the server rejected it once: final
    return git::transfer_scope::give_up(git::error_kind::authentication);
  }
  return git_credential_userpass_plaintext_new(out, ctx.request.username.c_str(),
                                               ctx.request.token.c_str());
}

int on_certificate(git_cert*, int, const char*, void*) {
  if (int stop = git::transfer_scope::checkpoint(); stop != 0) {
    return stop;
  }
  return GIT_PASSTHROUGH;
}

std::string without(std::string text, const std::string& secret) {
  if (secret.empty()) {
    return text;
  }
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

}  // namespace

probe_result probe_remote(const probe_request& request) {
  git::ensure_initialised();
  probe_result result;
  try {
    git::remote remote;
    git::check(git_remote_create_detached(git::out_ptr(remote), request.git_url.c_str()));
    probe_context ctx{request};
    git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
    callbacks.credentials = &on_credentials;
    callbacks.certificate_check = &on_certificate;
    callbacks.payload = &ctx;
    git::transfer_scope scope(std::chrono::steady_clock::now() + request.timeout, nullptr);
    git::check(git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr,
                                  nullptr));
    const git_remote_head** heads = nullptr;
    size_t count = 0;
    git::check(git_remote_ls(&heads, &count, remote.get()));
    constexpr std::string_view prefix = "refs/heads/";
    for (size_t i = 0; i < count; ++i) {
      std::string_view name = heads[i]->name;
      if (name.starts_with(prefix)) {
        result.branches.emplace_back(name.substr(prefix.size()));
        char hex[GIT_OID_HEXSZ + 1] = {};
        git_oid_tostr(hex, sizeof(hex), &heads[i]->oid);
        result.heads[result.branches.back()] = hex;
      }
    }
    std::sort(result.branches.begin(), result.branches.end());
    git_buf def = GIT_BUF_INIT;
    if (git_remote_default_branch(&def, remote.get()) == 0 && def.ptr != nullptr) {
      std::string_view name(def.ptr, def.size);
      result.default_branch = std::string(name.starts_with(prefix) ? name.substr(prefix.size())
                                                                   : name);
    }
    git_buf_dispose(&def);
    git_remote_disconnect(remote.get());
    result.ok = true;
  } catch (const git::error& e) {
    const std::string detail = without(e.detail(), request.token);
    switch (e.kind()) {
      case git::error_kind::authentication:
        result.error = git::authentication_failed_message;
        result.error_kind = "authentication";
        break;
      case git::error_kind::not_found:
        result.error = git::repository_not_found_message;
        result.error_kind = "not_found";
        break;
      case git::error_kind::timeout:
      case git::error_kind::cancelled:
        result.error = std::string(git::connection_timeout_message) +
                       (detail.empty() ? "" : " (" + detail + ")");
        result.error_kind = "timeout";
        break;
      case git::error_kind::certificate:
        result.error = std::string(git::certificate_message_prefix) + " (" + detail + ")";
        result.error_kind = "certificate";
        break;
      case git::error_kind::other:
        result.error = "Connection test failed: " + detail;
        result.error_kind = "other";
        break;
    }
  }
  return result;
}

}  // namespace kiwi
