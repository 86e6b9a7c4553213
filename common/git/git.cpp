#include "common/git/git.hpp"

#include <algorithm>
#include <mutex>
#include <string_view>

#include "common/git/socket_stream.hpp"
#include "common/security/url_authority.hpp"

namespace kiwi::git {
namespace {

using clock = transfer_scope::clock;

thread_local transfer_scope::state* current_scope = nullptr;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

namespace detail {

transfer_scope::state* current_transfer() { return current_scope; }

void record_cause(error_kind kind, std::string detail) {
  if (current_scope != nullptr && !current_scope->cause) {
    current_scope->cause = kind;
    current_scope->detail = std::move(detail);
  }
}

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

}  // namespace detail

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
    registration.init = &detail::socket_stream_init;
    git_stream_register(GIT_STREAM_STANDARD, &registration);
  });
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
  switch (detail::limit_reached()) {
    case detail::limit::none:
      return 0;
    case detail::limit::cancelled:
      detail::record_cause(error_kind::cancelled, {});
      return GIT_EUSER;
    case detail::limit::timed_out:
      detail::record_cause(error_kind::timeout, {});
      return GIT_EUSER;
  }
  return 0;
}

int transfer_scope::give_up(error_kind kind, std::string detail) {
  detail::record_cause(kind, std::move(detail));
  return GIT_EUSER;
}

}  // namespace kiwi::git
