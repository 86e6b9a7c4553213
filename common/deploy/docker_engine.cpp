#include "common/deploy/docker_engine.hpp"

#include <nlohmann/json.hpp>

#include "common/security/redact.hpp"

namespace kiwi {

namespace {

using json = nlohmann::json;

constexpr const char* api = "/v1.41";

http_endpoint endpoint_of(const std::string& url) {
  auto where = parse_http_endpoint(url);
  if (!where) {
    throw std::invalid_argument("\"" + url +
                                "\" is not a Docker endpoint (a socket path or tcp://host:port)");
  }
  return *where;
}

// The engine's {"message": ...}, or the body's first line.
std::string engine_message(const http_reply& reply) {
  const json j = json::parse(reply.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>();
  }
  return reply.body.substr(0, std::min(reply.body.find('\n'), std::size_t{300}));
}

std::string filters_query(const std::vector<std::string>& labels) {
  return percent_encode(json({{"label", labels}}).dump());
}

}  // namespace

std::string docker_endpoint_url(const runtime_config& runtime) {
  if (!runtime.socket.empty()) {
    return "unix://" + runtime.socket;
  }
  std::string rest = runtime.url;
  if (rest.starts_with("tcp://")) {
    rest.erase(0, 6);
  }
  const bool tls =
      !runtime.tls_ca_cert.empty() || !runtime.tls_cert.empty() || !runtime.tls_key.empty();
  return (tls ? "https://" : "http://") + rest;
}

http_options docker_http_options(const runtime_config& runtime, bool unix_socket) {
  http_options options;
  options.peer = "the Docker engine";
  options.hint = unix_socket
                     ? "check that the engine (dockerd, or podman system service) is running "
                       "and the socket path"
                     : "check the runtime's url and that the engine listens there";
  options.tls_hint = "check tls_ca_cert (the CA that signed the engine's certificate), "
                     "tls_cert and tls_key";
  options.tls.ca_pem = runtime.tls_ca_cert;
  options.tls.client_cert_pem = runtime.tls_cert;
  options.tls.client_key_pem = runtime.tls_key;
  return options;
}

docker_engine::docker_engine(const runtime_config& runtime, std::chrono::milliseconds timeout)
    : url_(docker_endpoint_url(runtime)),
      where_(endpoint_of(url_)),
      options_([&] {
        http_options o = docker_http_options(runtime, !where_.socket_path.empty());
        o.timeout = timeout;
        return o;
      }()),
      client_(where_, options_) {}

http_reply docker_engine::call(const std::string& method, const std::string& path,
                               const std::string* body, const header_list& headers) {
  return client_.request(method, api + path, body, headers);
}

void docker_engine::refused(const std::string& what, const http_reply& reply) const {
  throw docker_api_error("the Docker engine at " + url_ + " refused to " + what + " (HTTP " +
                             std::to_string(reply.status) + "): " + engine_message(reply),
                         reply.status);
}

bool docker_engine::is_podman() {
  if (!podman_) {
    const http_reply r = client_.request("GET", "/_ping");
    podman_ = !r.header("Libpod-Api-Version").empty();
  }
  return *podman_;
}

std::optional<std::string> docker_engine::pull(const std::string& image,
                                               const std::string& registry_auth,
                                               std::chrono::milliseconds timeout) {
  // A connection of its own: the pull may take longer than one ordinary call.
  http_options o = options_;
  o.timeout = timeout;
  http_client puller(where_, o);
  header_list headers;
  if (!registry_auth.empty()) {
    headers.emplace_back("X-Registry-Auth", registry_auth);
  }
  const std::string empty;
  const http_reply r = puller.request(
      "POST", std::string(api) + "/images/create?fromImage=" + percent_encode(image), &empty,
      headers);
  if (r.status != 200) {
    return engine_message(r);
  }
  return pull_stream_error(r.body);
}

std::string docker_engine::create(const std::string& name, const std::string& body) {
  const http_reply r = call("POST", "/containers/create?name=" + percent_encode(name), &body);
  if (r.status != 201) {
    refused("create container " + name, r);
  }
  const json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("Id") || !j["Id"].is_string()) {
    throw docker_api_error("the Docker engine at " + url_ + " created " + name +
                               " without saying its id",
                           r.status);
  }
  return j["Id"].get<std::string>();
}

void docker_engine::start(const std::string& id) {
  const std::string empty;
  const http_reply r = call("POST", "/containers/" + id + "/start", &empty);
  if (r.status != 204 && r.status != 304) {
    refused("start container " + id.substr(0, 12), r);
  }
}

void docker_engine::stop(const std::string& id, unsigned grace_s) {
  const std::string empty;
  const http_reply r =
      call("POST", "/containers/" + id + "/stop?t=" + std::to_string(grace_s), &empty);
  if (r.status != 204 && r.status != 304 && r.status != 404) {
    refused("stop container " + id.substr(0, 12), r);
  }
}

void docker_engine::remove(const std::string& id) {
  const http_reply r = call("DELETE", "/containers/" + id + "?force=true&v=true");
  if (r.status != 204 && r.status != 404) {
    refused("remove container " + id.substr(0, 12), r);
  }
}

std::optional<container_state> docker_engine::inspect(const std::string& id) {
  const http_reply r = call("GET", "/containers/" + id + "/json");
  if (r.status == 404) {
    return std::nullopt;
  }
  if (r.status != 200) {
    refused("inspect container " + id.substr(0, 12), r);
  }
  return parse_container_state(r.body);
}

std::vector<container_summary> docker_engine::list(const std::vector<std::string>& label_filters,
                                                   bool all) {
  const http_reply r = call("GET", std::string("/containers/json?all=") + (all ? "true" : "false") +
                                       "&filters=" + filters_query(label_filters));
  if (r.status != 200) {
    refused("list containers", r);
  }
  return parse_container_list(r.body);
}

std::vector<std::string> docker_engine::log_tail(const std::string& id, std::size_t lines) {
  const http_reply r = call("GET", "/containers/" + id + "/logs?stdout=true&stderr=true&tail=" +
                                       std::to_string(lines));
  if (r.status != 200) {
    return {};
  }
  return demux_log_lines(r.body, lines);
}

std::optional<int> docker_engine::next_exit(const std::string& id,
                                            std::chrono::milliseconds within) {
  http_options o = options_;
  o.timeout = within;
  http_client waiter(where_, o);
  const std::string empty;
  try {
    const http_reply r = waiter.request(
        "POST", std::string(api) + "/containers/" + id + "/wait?condition=next-exit", &empty);
    const json j = json::parse(r.body, nullptr, false);
    if (r.status == 200 && j.is_object() && j.contains("StatusCode") &&
        j["StatusCode"].is_number_integer()) {
      return j["StatusCode"].get<int>();
    }
  } catch (const http_unreachable&) {
    // It did not exit within the time given.
  }
  return std::nullopt;
}

void docker_engine::run_healthcheck(const std::string& id) {
  // Its answer is recorded in State.Health, read by the next inspect.
  client_.request("GET", "/v4.0.0/libpod/containers/" + id + "/healthcheck");
}

}  // namespace kiwi
