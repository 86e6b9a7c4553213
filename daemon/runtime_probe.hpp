#pragma once
// "Test" of a runtime, within a deadline. Docker (or podman's Docker-compatible service):
// GET /_ping, then GET /version, over the unix socket or tcp://host:port (https with the
// client certificate, key and CA when tls_* are set, plain http otherwise). Kubernetes:
// GET /version on api_url with the bearer token, trusting the runtime's CA, then a dry run
// (dryRun=All) of a Kaniko build's Secret and Job and a pod listing in the runtime's
// namespace: whether builds could run there ("; Kaniko builds: ready"). Messages never
// hold the token or a key. Blocking: run it on a blocking pool.

#include <chrono>
#include <string>
#include <string_view>

#include "common/http/connection_check.hpp"
#include "common/config/resources.hpp"

namespace kiwi {

// A 401 from the Kubernetes API ends with exactly this.
inline constexpr std::string_view kubernetes_token_rejected_message =
    "Kubernetes API rejected the token: check the runtime's bearer token";

// "Docker Engine API 1.41, server 4.3.1 (linux/amd64)" and the components a server lists,
// from a GET /version body; empty when the body is not such an answer.
std::string docker_version_summary(std::string_view version_json);
// "Kubernetes v1.32.3 (linux/arm64)" from a GET /version body; empty when it is not one.
std::string kubernetes_version_summary(std::string_view version_json);

// ok: message is the version summary; details: type, endpoint and the versions.
// Failures (error_kind): authentication (kubernetes_token_rejected_message), forbidden (the
// API's Status message), certificate, unreachable, timeout, other.
connection_check probe_runtime(const runtime_config& runtime,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace kiwi
