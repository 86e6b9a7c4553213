#pragma once
// What a refused or failed call to the Kubernetes API of a Kaniko build's runtime means for the
// user (worker/kaniko_backend.cpp); the connection itself is common/kubernetes/kube_api.hpp.

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/build/image_build.hpp"
#include "common/config/resources.hpp"
#include "common/http/http_client.hpp"
#include "common/kubernetes/kube_api.hpp"  // kube_api

namespace kiwi {

// What a refused API call means for the user. `what` is e.g. "create the build Job".
image_build_error api_refusal(const runtime_config& runtime, const std::string& what,
                              const http_reply& reply);

// The API server could not be reached: transient, the queue retries the build.
image_build_error api_unreachable(const http_unreachable& e);

}  // namespace kiwi
