#pragma once
// A connection to the Kubernetes API server of a runtime: HTTPS with the runtime's CA and bearer
// token over common/http. Used by the Kaniko backend (worker/kaniko_backend.cpp) and the
// Kubernetes deployer (common/deploy/kubernetes_deployer.cpp). Blocking; the token is sent as a
// default header and never appears in a message.

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/config/resources.hpp"
#include "common/http/http_client.hpp"

namespace kiwi {

// One kept-alive connection for requests. Throws http_unreachable.
class kube_api {
 public:
  kube_api(const runtime_config& runtime, std::chrono::milliseconds timeout);

  // One request, with `body` as JSON when given (as `content_type` when given: a server-side
  // apply sends application/apply-patch+yaml, of which JSON is a valid form).
  http_reply call(std::string_view method, const std::string& path,
                  const nlohmann::json* body = nullptr, std::string_view content_type = {});

  http_client& client() { return client_; }

 private:
  http_client client_;
};

}  // namespace kiwi
