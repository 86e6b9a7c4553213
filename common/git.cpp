#include "common/git.hpp"

#include <mutex>
#include <regex>

namespace kiwi::git {

void ensure_initialised() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

std::string scrub_credentials(std::string text) {
  static const std::regex userinfo(R"(([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@)");
  return std::regex_replace(text, userinfo, "$1");
}

failure last_failure(int code) {
  failure f;
  f.code = code;
  if (const git_error* e = git_error_last(); e != nullptr && e->message != nullptr) {
    f.klass = e->klass;
    f.message = scrub_credentials(e->message);
  } else {
    f.message = "libgit2 error " + std::to_string(code);
  }
  return f;
}

}  // namespace kiwi::git
