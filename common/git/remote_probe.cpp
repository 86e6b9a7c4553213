#include "common/git/remote_probe.hpp"

#include <algorithm>
#include <utility>

#include "common/git/git.hpp"

namespace kiwi {
namespace {

int on_credentials(git_credential** out, const char* url, const char* username_from_url,
                   unsigned int allowed, void* payload) {
  return static_cast<git::remote_auth*>(payload)->credentials(out, url, username_from_url,
                                                              allowed);
}

int on_certificate(git_cert* cert, int valid, const char* host, void* payload) {
  return static_cast<git::remote_auth*>(payload)->certificate_check(cert, valid, host);
}

}  // namespace

probe_result probe_remote(const probe_request& request) {
  git::ensure_initialised();
  probe_result result;
  git::remote_auth::settings settings;
  settings.url = request.git_url;
  settings.username = request.username;
  settings.token = request.token;
  settings.ssh_key = request.ssh_key;
  settings.ssh_known_hosts = request.ssh_known_hosts;
  git::remote_auth auth(std::move(settings));
  try {
    git::remote remote;
    git::check(git_remote_create_detached(git::out_ptr(remote), request.git_url.c_str()));
    git_remote_connect_options options = GIT_REMOTE_CONNECT_OPTIONS_INIT;
    options.callbacks.credentials = &on_credentials;
    options.callbacks.certificate_check = &on_certificate;
    options.callbacks.payload = &auth;
    options.follow_redirects = git::follow_redirects;
    git::transfer_scope scope(std::chrono::steady_clock::now() + request.timeout, nullptr);
    git::check(git_remote_connect_ext(remote.get(), GIT_DIRECTION_FETCH, &options));
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
    const std::string detail = auth.scrub(e.detail());
    switch (e.kind()) {
      case git::error_kind::authentication:
        result.error = git::authentication_message(e);
        result.error_kind = "authentication";
        break;
      case git::error_kind::host_key:
        result.error = detail;
        result.error_kind = "host_key";
        break;
      case git::error_kind::denied:
        result.error = "Connection refused by Kiwi's settings: " + detail;
        result.error_kind = "denied";
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
  result.host_key = auth.host_key();
  result.host_key_line = auth.host_key_line();
  return result;
}

}  // namespace kiwi
