#pragma once
// The Docker Engine API's formats, as pure functions (no I/O; unit tested): the pull's
// X-Registry-Auth header and its JSON-lines answer, the body of a container create, a
// container's inspected state, and the multiplexed stream of a non-TTY container's logs.
// docker_engine.cpp sends and receives them; docker_deployer.cpp decides with them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/resources.hpp"
#include "common/deploy/deployer.hpp"

namespace kiwi {

// X-Registry-Auth: base64url of {"username", "password", "serveraddress"} (the registry's host
// and port, without a scheme).
std::string registry_auth_header(const registry_config& registry);

// A pull answers HTTP 200 even when it fails: the error is a {"error": ...} (or
// {"errorDetail": {"message"}}) line of its JSON-lines stream. That error, or nullopt.
std::optional<std::string> pull_stream_error(std::string_view body);

// kiwi-<service>-<env>-r<revision>-<replica> (replica from 1).
std::string container_name(std::string_view service, std::string_view environment,
                           unsigned long long revision, unsigned replica);

// Labels every container of a deploy carries (kiwi.service, kiwi.env, kiwi.deployment,
// kiwi.revision, kiwi.replica).
std::map<std::string, std::string> deploy_labels(const deploy_request& request, unsigned replica);

// The body of POST /containers/create for one replica: the image, Env from env and secret_env,
// the labels, NanoCpus/Memory from resources.limits, the restart policy, and `port` (and the
// health check's port when another) published on 127.0.0.1:`host_port` (0: an ephemeral one).
// Throws std::invalid_argument naming the field when a limit is not a quantity.
struct container_spec {
  std::string image;
  std::map<std::string, std::string> labels;
  const environment_config* env = nullptr;
  unsigned host_port = 0;
};
std::string container_create_body(const container_spec& spec);

// What GET /containers/{id}/json says about a container that matters to a deploy.
struct container_state {
  std::string status;      // running, exited, restarting, created, stopped (podman), dead
  bool running = false;
  bool restarting = false;
  int exit_code = 0;
  unsigned restart_count = 0;
  bool has_healthcheck = false;  // the image's HEALTHCHECK (not NONE)
  std::string health;            // starting, healthy, unhealthy; empty without a HEALTHCHECK
  std::string health_output;     // the last check's output, trimmed
  std::map<unsigned, unsigned> host_ports;  // container port (tcp) -> published host port
};
// nullopt when the body is not a container's JSON.
std::optional<container_state> parse_container_state(std::string_view inspect_json);

// A container from GET /containers/json (Env is never read).
struct container_summary {
  std::string id;
  std::string name;  // without the leading '/'
  std::string image;
  std::string state;  // running, exited, ...
  std::map<std::string, std::string> labels;
  std::map<unsigned, unsigned> host_ports;
};
std::vector<container_summary> parse_container_list(std::string_view list_json);

// The lines of a logs answer: a non-TTY container's stream is multiplexed (frames of an 8-byte
// header: stream type 0/1/2, three zero bytes, a big-endian 32-bit length, then the payload);
// a TTY container's is raw text. Lines keep no '\n'; the last `max_lines` are returned.
std::vector<std::string> demux_log_lines(std::string_view stream, std::size_t max_lines);

}  // namespace kiwi
