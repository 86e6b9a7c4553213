#include "worker/kaniko_api.hpp"

#include "common/kubernetes/kaniko_pod.hpp"

namespace kiwi {

namespace {

image_build_error make_error(image_build_errc code, failure_kind kind, std::string message) {
  return make_image_build_error(code, std::move(message), kind);
}

}  // namespace

image_build_error api_refusal(const runtime_config& runtime, const std::string& what,
                              const http_reply& reply) {
  std::string detail = kube_status_message(reply.body);
  if (detail.empty()) {
    detail = "HTTP " + std::to_string(reply.status);
  }
  if (reply.status == 401) {
    return make_error(image_build_errc::other, failure_kind::permanent,
                      "the Kubernetes API rejected runtime \"" + runtime.name +
                          "\"'s token (401): renew the service account token");
  }
  if (reply.status == 403) {
    return make_error(image_build_errc::other, failure_kind::permanent,
                      "runtime \"" + runtime.name + "\" may not " + what + " in namespace \"" +
                          runtime.namespace_ + "\" (" + detail +
                          "): grant its service account create/get/delete on jobs and "
                          "secrets, patch on secrets, and get/list on pods and pods/log");
  }
  if (reply.status == 429 || reply.status >= 500) {
    return make_error(image_build_errc::other, failure_kind::transient,
                      "the Kubernetes API could not " + what + " (" + detail + ")");
  }
  return make_error(image_build_errc::other, failure_kind::permanent,
                    "the Kubernetes API refused to " + what + " (" + detail + ")");
}

image_build_error api_unreachable(const http_unreachable& e) {
  return make_error(image_build_errc::other, failure_kind::transient, e.what());
}

}  // namespace kiwi
