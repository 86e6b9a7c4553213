#include "common/kubernetes/kube_api.hpp"

namespace kiwi {

namespace {

http_endpoint endpoint(const runtime_config& runtime) {
  auto parsed = parse_http_endpoint(runtime.api_url);
  if (!parsed) {
    throw http_unreachable("the runtime's api_url \"" + runtime.api_url + "\" is not a URL",
                           http_unreachable::step::resolve, false);
  }
  return *parsed;
}

http_options options(const runtime_config& runtime, std::chrono::milliseconds timeout) {
  http_options o;
  o.peer = "the Kubernetes API of runtime \"" + runtime.name + "\"";
  o.hint = "check the runtime's api_url and the network to the cluster";
  o.tls_hint = "check the runtime's ca_cert";
  o.tls.ca_pem = runtime.ca_cert;
  o.timeout = timeout;
  o.connect_timeout = std::chrono::seconds(10);
  return o;
}

}  // namespace

kube_api::kube_api(const runtime_config& runtime, std::chrono::milliseconds timeout)
    : client_(endpoint(runtime), options(runtime, timeout)) {
  client_.set_default_headers({{"Authorization", "Bearer " + runtime.token}});
}

http_reply kube_api::call(std::string_view method, const std::string& path,
                          const nlohmann::json* body, std::string_view content_type) {
  if (body) {
    const std::string text = body->dump();
    header_list headers;
    if (!content_type.empty()) {
      headers.emplace_back("Content-Type", std::string(content_type));
    }
    return client_.request(method, path, &text, headers);
  }
  return client_.request(method, path);
}

}  // namespace kiwi
