#pragma once
// What an image build (and push) produces or why it failed, independent of the backend that
// ran it. Messages are for the user: they say what to fix and never contain a secret.

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/base/failure_kind.hpp"

namespace kiwi {

// Where an image is pushed. Empty username: anonymous.
struct registry_credentials {
  std::string url;  // harbor.company.com, docker.io, https://127.0.0.1:5000
  std::string username;
  std::string password;   // password or token
  bool insecure = false;  // plain http or unverified TLS (also implied by an http:// url)
};

enum class image_build_errc {
  dockerfile_error,        // invalid Dockerfile, or a file it copies is missing (permanent)
  base_image_unavailable,  // a FROM image could not be pulled (transient when unreachable/5xx)
  step_failed,             // a RUN step exited non-zero (permanent)
  push_unauthorized,       // the registry answered 401 (permanent)
  push_denied,             // 403 or 404: no such repository or no push permission (permanent)
  registry_unreachable,    // connection refused, DNS, timeouts (transient)
  registry_error,          // the registry answered 5xx or 429 (transient)
  registry_tls,            // plain http vs https, untrusted certificate (permanent)
  timed_out,               // the deadline passed (transient while pushing, else permanent)
  cancelled,
  other  // anything else (permanent unless said otherwise)
};

struct image_build_error {
  image_build_errc code = image_build_errc::other;
  failure_kind kind = failure_kind::permanent;
  std::string message;  // what the user reads, e.g. "Dockerfile error at line 3: ..."
  int line = 0;         // the Dockerfile line, when known
  int exit_code = -1;   // step_failed: the step's exit code
  std::string step;     // the failing instruction as buildah printed it
  std::vector<std::string> last_lines;  // the last lines of output (redacted), oldest first
};

struct image_build_result {
  std::string image_id;                 // sha256:... of the local image
  std::string digest;                   // sha256:... manifest digest; empty when not pushed
  std::vector<std::string> references;  // the references tagged (and pushed, with a registry)
};

using image_build_outcome = std::variant<image_build_result, image_build_error>;

inline image_build_error make_image_build_error(image_build_errc code, std::string message,
                                                failure_kind kind = failure_kind::permanent) {
  image_build_error e;
  e.code = code;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

}  // namespace kiwi
