#pragma once
// The Docker Engine API calls a deploy makes (API v1.41, which Docker 20.10+ and podman 4's
// Docker-compatible service both answer), over the runtime's unix socket or tcp (https with
// the runtime's CA, client certificate and key). Blocking, one connection, each call bounded by
// the timeout given. A call the engine refuses throws docker_api_error with the engine's own
// message; an engine that cannot be reached throws http_unreachable (common/http).

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/config/resources.hpp"
#include "common/deploy/docker_wire.hpp"
#include "common/http/http_client.hpp"

namespace kiwi {

// unix:///run/docker.sock, http://host:2375 or https://host:2376 (tcp:// with tls_*).
std::string docker_endpoint_url(const runtime_config& runtime);
// The client options for a runtime's engine: who it is in messages, what to check when it
// cannot be reached, and its TLS material.
http_options docker_http_options(const runtime_config& runtime, bool unix_socket);

struct docker_api_error : std::runtime_error {
  docker_api_error(const std::string& message, unsigned status)
      : std::runtime_error(message), status(status) {}
  unsigned status;
};

class docker_engine {
 public:
  // Throws std::invalid_argument when the runtime names no usable endpoint.
  docker_engine(const runtime_config& runtime, std::chrono::milliseconds timeout);

  // Whether the engine is podman's Docker-compatible service (it answers with a
  // Libpod-Api-Version header): podman runs HEALTHCHECKs only from systemd timers, so without
  // systemd Kiwi asks it to run them (run_healthcheck).
  bool is_podman();

  // POST /images/create?fromImage=<image> with X-Registry-Auth (empty: none), reading the
  // JSON-lines answer for up to `timeout`. The stream's error, or nullopt when pulled.
  std::optional<std::string> pull(const std::string& image, const std::string& registry_auth,
                                  std::chrono::milliseconds timeout);

  std::string create(const std::string& name, const std::string& body);  // the container's id
  void start(const std::string& id);
  void stop(const std::string& id, unsigned grace_s);  // a stopped container is no error
  void remove(const std::string& id);                  // forced; a missing one is no error
  std::optional<container_state> inspect(const std::string& id);  // nullopt: no such container
  // Containers carrying every label key=value; `all`: stopped ones too.
  std::vector<container_summary> list(const std::vector<std::string>& label_filters, bool all);
  std::vector<std::string> log_tail(const std::string& id, std::size_t lines);
  // The exit code of the container's next exit (it is restarting), if it exits in `within`.
  std::optional<int> next_exit(const std::string& id, std::chrono::milliseconds within);
  // podman only: GET /libpod/containers/{id}/healthcheck runs the image's HEALTHCHECK once and
  // records it in State.Health.
  void run_healthcheck(const std::string& id);

  const std::string& url() const { return url_; }

 private:
  http_reply call(const std::string& method, const std::string& path,
                  const std::string* body = nullptr, const header_list& headers = {});
  [[noreturn]] void refused(const std::string& what, const http_reply& reply) const;

  std::string url_;
  http_endpoint where_;
  http_options options_;
  http_client client_;
  std::optional<bool> podman_;
};

}  // namespace kiwi
