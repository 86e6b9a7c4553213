#include "worker/registry_errors.hpp"

#include "worker/output_text.hpp"

namespace kiwi {
namespace {

using namespace output_text;

bool is_tls_error(std::string_view error) {
  return contains_any(error, {"server gave HTTP response to HTTPS client", "x509:", "tls: "});
}

std::string tls_detail(std::string_view error) {
  if (contains(error, "server gave HTTP response to HTTPS client")) {
    return "it speaks plain HTTP; mark the registry as insecure";
  }
  const auto at = error.find("x509:");
  return "TLS certificate not trusted (" +
         shortened(at == std::string_view::npos ? error : error.substr(at)) + ")";
}

}  // namespace

std::pair<std::string, failure_kind> pull_failure_reason(std::string_view error,
                                                         const std::string& host) {
  if (is_tls_error(error)) {
    return {"registry " + host + ": " + tls_detail(error), failure_kind::permanent};
  }
  if (contains(error, "short-name")) {
    return {
        "the short name cannot be resolved; use a fully qualified name such as "
        "docker.io/library/node:20",
        failure_kind::permanent};
  }
  const int status = http_status_in(error);
  if (status == 401) {
    return {"the registry refused access (credentials missing or wrong)", failure_kind::permanent};
  }
  if (status == 403) {
    return {"access denied by the registry", failure_kind::permanent};
  }
  if (status == 404 || contains(error, "not found")) {
    return {"not found (check the image name and tag)", failure_kind::permanent};
  }
  if (status == 429 || status >= 500) {
    return {"registry error (HTTP " + std::to_string(status) + ") at " + host,
            failure_kind::transient};
  }
  if (is_network_error(error)) {
    return {"registry unreachable (" + host + ")", failure_kind::transient};
  }
  return {shortened(error), failure_kind::permanent};
}

int http_status_in(std::string_view error) {
  // Numeric forms containers/image prints.
  for (std::string_view marker : {"StatusCode: ", "HTTP status: ", "status code from registry "}) {
    if (const auto at = error.find(marker); at != std::string_view::npos) {
      std::string_view rest = error.substr(at + marker.size());
      if (const int code = take_number(rest); code >= 100 && code <= 599) {
        return code;
      }
    }
  }
  // ": 403 (Forbidden)"
  for (auto at = error.find(" ("); at != std::string_view::npos; at = error.find(" (", at + 2)) {
    if (at >= 4 && error[at - 4] == ' ') {
      std::string_view digits = error.substr(at - 3, 3);
      if (const int code = take_number(digits); digits.empty() && code >= 100 && code <= 599) {
        return code;
      }
    }
  }
  // Error codes from the registry's JSON answer (Distribution's errcode messages).
  if (contains_any(error, {"unauthorized:", "authentication required"})) {
    return 401;
  }
  if (contains_any(error, {"denied:", "requested access to the resource is denied"})) {
    return 403;
  }
  if (contains_any(error, {"name unknown", "manifest unknown", "NAME_UNKNOWN"})) {
    return 404;
  }
  if (contains(error, "toomanyrequests")) {
    return 429;
  }
  return 0;
}

bool is_network_error(std::string_view error) {
  return contains_any(
      error,
      {"dial tcp", "connection refused", "no such host", "i/o timeout", "network is unreachable",
       "no route to host", "connection reset", "TLS handshake timeout", "server misbehaving",
       "context deadline exceeded", "timeout awaiting response headers", "broken pipe"});
}

image_build_error classify_push_failure(std::string_view error, std::string_view registry_host) {
  const std::string host(registry_host);
  image_build_error e;
  if (is_tls_error(error)) {
    e.code = image_build_errc::registry_tls;
    e.message = "Image push failed: registry " + host + ": " + tls_detail(error);
    return e;
  }
  const int status = http_status_in(error);
  if (status == 401) {
    e.code = image_build_errc::push_unauthorized;
    e.message = "Image push failed: check the registry credentials";
    return e;
  }
  if (status == 403 || status == 404) {
    e.code = image_build_errc::push_denied;
    e.message = "Image push failed: repository not found or no push permission";
    return e;
  }
  if (status == 429 || status >= 500) {
    e.code = image_build_errc::registry_error;
    e.kind = failure_kind::transient;
    e.message =
        "Image push failed: registry error (HTTP " + std::to_string(status) + ") at " + host;
    return e;
  }
  if (is_network_error(error)) {
    e.code = image_build_errc::registry_unreachable;
    e.kind = failure_kind::transient;
    e.message = "Image push failed: registry unreachable (" + host + ")";
    return e;
  }
  e.message = "Image push failed: " +
              (error.empty() ? std::string("buildah push failed") : shortened(error));
  return e;
}

}  // namespace kiwi
