#pragma once
// The Kubernetes API server of a Kaniko build's runtime (worker/kaniko_backend.cpp): HTTPS with
// the runtime's CA and bearer token over common/http, and what a refused or failed call means
// for the user. Blocking.

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/build/image_build.hpp"
#include "common/config/resources.hpp"
#include "common/http/http_client.hpp"

namespace kiwi {

// The Kubernetes API for one build: a kept-alive connection for requests, and a second one for
// the log stream (which can be cut off mid-body at any time). Throws http_unreachable.
class kube_api {
 public:
  kube_api(const runtime_config& runtime, std::chrono::milliseconds timeout);

  // One request, with `body` as JSON when given.
  http_reply call(std::string_view method, const std::string& path,
                  const nlohmann::json* body = nullptr);

  http_client& client() { return client_; }

 private:
  http_client client_;
};

// What a refused API call means for the user. `what` is e.g. "create the build Job".
image_build_error api_refusal(const runtime_config& runtime, const std::string& what,
                              const http_reply& reply);

// The API server could not be reached: transient, the queue retries the build.
image_build_error api_unreachable(const http_unreachable& e);

}  // namespace kiwi
