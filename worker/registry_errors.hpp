#pragma once
// What buildah 1.28's registry errors (containers/image's texts) say, for a base image pull or an
// image push: the HTTP status, a network failure, a TLS mismatch. No I/O; the patterns were
// taken from real buildah runs (docs/build-backends.md lists them).

#include <string>
#include <string_view>
#include <utility>

#include "common/build/image_build.hpp"

namespace kiwi {

// The HTTP status a containers/image error names ("... 403 (Forbidden)", "StatusCode: 404",
// "received unexpected HTTP status: 502 Bad Gateway", "unauthorized: ..."), 0 if none.
int http_status_in(std::string_view error);

// Whether a containers/image error is a network failure (refused, DNS, timeouts, resets).
bool is_network_error(std::string_view error);

// Why a base image pull from registry `host` failed ("not found (check the image name and
// tag)"), and whether trying later may help.
std::pair<std::string, failure_kind> pull_failure_reason(std::string_view error,
                                                         const std::string& host);

// Why `buildah push` to registry_host failed, from its last "Error: " line (without "Error: ").
image_build_error classify_push_failure(std::string_view error, std::string_view registry_host);

}  // namespace kiwi
