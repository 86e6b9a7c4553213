#pragma once
// The resources a team registers: services, image registries and runtimes. The config file
// (GitOps style) and the REST API describe them with the same JSON (docs/configuration.md), and
// both go through the parsers here, so a resource means the same thing wherever it comes from.
// Parsers throw field_error naming the field (relative to the resource) and what to fix.
// resources.cpp parses services and registries, runtime_resource.cpp runtimes (Kubernetes with
// Kaniko settings, Docker), resource_json.cpp writes the JSON form back.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/base/json_fields.hpp"  // field_error
#include "common/build/tag_rule.hpp"  // check_tag_rule, used by parse_service

namespace kiwi {

struct dockerfile_config {
  std::string mode = "auto";  // auto | path | wizard | none (clone only, no image)
  std::string path;           // mode path: relative to the repository
  std::string context = ".";  // mode path: build context, relative to the repository
  std::string language;       // mode wizard: node | python | java | go (empty: detect)
  std::string framework;      // mode wizard: e.g. express, nextjs, flask, spring-boot
};

// The security scan of a service's images (docs/scan.md). The scanner itself is configured once
// (config `scan.*`, scan_settings in config.hpp); without one, the scan stage is skipped and says so.
struct scan_ignore {
  std::string id;       // CVE-2024-1234, GHSA-..., as the scanner reports it
  std::string expires;  // YYYY-MM-DD: ignored until that day ends (UTC); empty: for good
  std::string reason;   // why (shown with the ignore), optional
};
struct scan_config {
  bool enabled = true;
  std::string fail_on = "CRITICAL";  // the lowest severity that fails the gate; "NONE": report only
  bool ignore_unfixed = false;       // findings without a fixed version do not fail the gate
  std::vector<scan_ignore> ignore;
};

// Resource amounts of one deployed replica, as Kubernetes quantities ("250m", "512Mi").
struct resource_amounts {
  std::string cpu;
  std::string memory;
};
struct resource_requirements {
  resource_amounts requests;
  resource_amounts limits;
};

// The health check of a deployed replica. Docker: when `path` is empty, the image's HEALTHCHECK
// (or running for `startup_s` without exiting when it has none); Kubernetes: a readiness probe.
struct health_check {
  std::string path;           // HTTP GET path, e.g. /healthz; empty: no HTTP check
  unsigned port = 0;          // 0: the environment's port
  unsigned interval_s = 2;
  unsigned timeout_s = 2;
  unsigned startup_s = 5;     // no HEALTHCHECK and no path: running this long counts as healthy
};

// One deploy target of a service (docs/deploy.md): where and how its image runs.
struct environment_config {
  std::string name;      // development | staging | production | a custom DNS-1123 label
  std::string runtime;   // name of a runtime resource (docker or kubernetes)
  std::string namespace_;  // kubernetes; empty: the runtime's namespace
  unsigned replicas = 1;
  resource_requirements resources;
  std::vector<std::pair<std::string, std::string>> env;         // in the order given
  std::vector<std::pair<std::string, std::string>> secret_env;  // sealed at rest, never shown
  unsigned port = 0;       // the container port the service listens on; 0: none
  unsigned host_port = 0;  // docker: publish `port` on 127.0.0.1:host_port (0: an ephemeral one)
  bool auto_deploy = false;          // a push build deploys here (development: true by default)
  bool auto_rollback = false;        // a failed deploy redeploys the previous revision (production: true)
  bool allow_single_replica = false; // production with 1 replica is refused unless set
  std::string restart_policy = "unless-stopped";  // docker restart policy
  unsigned deadline_s = 300;  // healthy within this or the deploy fails
  health_check health;
};

struct service_config {
  std::string name;
  std::string git_url;
  std::string branch;
  std::string token;           // personal access token for https; empty: anonymous or ssh_key
  std::string ssh_key;         // ed25519 private key (OpenSSH format) for ssh:// URLs
  std::string ssh_known_hosts; // known_hosts lines pinning the ssh server's host key (not secret);
                               // empty: any host key is accepted and its fingerprint reported
  std::string git_username;    // user sent with the token
  std::string webhook_secret;
  bool build_tags = false;
  bool cancel_superseded = true;       // a newer push to the same ref supersedes older builds
  unsigned max_concurrent_builds = 1;  // builds of this service running at once
  dockerfile_config dockerfile;
  std::string registry;        // name of a registry resource (empty: build only, no push)
  std::string image;           // repository within the registry, e.g. library/user-api
  std::string tag_rule = "${BRANCH}-${SHORT_SHA}";
  std::string build_runtime = "local";  // local (buildah) or a kubernetes runtime's name
  scan_config scan;
  std::vector<environment_config> deploy;  // deploy targets; empty: build only
  bool read_only = false;      // declared in the config file: the API shows but never changes it
};

struct registry_config {
  std::string name;
  std::string url;       // harbor.company.com, docker.io, https://registry.local:5000
  std::string username;
  std::string password;  // password or token
  bool insecure = false; // plain http or unverified TLS
  bool read_only = false;
};

// How a Kubernetes runtime runs Kaniko builds (worker/kaniko_backend.hpp).
struct kaniko_settings {
  // Upstream Kaniko (gcr.io/kaniko-project) was archived in June 2025; the default is the
  // maintained community fork's executor, pinned by tag.
  std::string image = "ghcr.io/osscontainertools/kaniko:v1.28.0";
  // The build pod's init container that clones the commit (git and a POSIX sh), pinned by tag.
  std::string git_image = "docker.io/alpine/git:v2.45.1";
  std::string cpu_request = "500m", memory_request = "1Gi";  // Kubernetes quantities
  std::string cpu_limit = "2", memory_limit = "4Gi";         // empty: no limit
  std::string service_account;  // empty: the namespace's default
  std::uint64_t pending_timeout_s = 300;  // a pod that cannot be scheduled fails after this
  std::uint64_t poll_interval_ms = 1000;  // pod status polling while the build runs
  bool cache = true;                      // --cache=true with <image>/cache as cache repo
};

struct runtime_config {
  std::string name;
  std::string type;       // kubernetes | docker
  // kubernetes
  std::string api_url;    // https://...
  std::string ca_cert;    // PEM (from ca_file or given inline)
  std::string token;      // bearer token
  std::string namespace_ = "default";
  kaniko_settings kaniko;
  // Deploys' server-side apply takes over fields another manager (kubectl, Helm) set (force=true);
  // false: such a conflict fails the deploy with a 409 naming the fields.
  bool deploy_force_conflicts = true;
  // docker
  std::string socket;     // unix socket path
  std::string url;        // tcp://host:port (TLS with the fields below)
  std::string tls_ca_cert, tls_cert, tls_key;
  bool read_only = false;
};

bool is_dns1123_label(std::string_view name);

// Where *_file fields are read from (the config file's folder); nullopt: files are not allowed
// (the API takes the contents instead).
struct parse_context {
  std::optional<std::string> base_dir;
  bool webhook_secret_required = true;  // the API generates one when absent
};

service_config parse_service(const nlohmann::json& j, const parse_context& ctx);
registry_config parse_registry(const nlohmann::json& j, const parse_context& ctx);
runtime_config parse_runtime(const nlohmann::json& j, const parse_context& ctx);

// The JSON form. Secrets (token, ssh_key, webhook_secret, password, runtime tokens and keys)
// appear as "***" when set, unless include_secrets (for the store, which seals them).
nlohmann::json to_json(const service_config& s, bool include_secrets = false);
nlohmann::json to_json(const registry_config& r, bool include_secrets = false);
nlohmann::json to_json(const runtime_config& r, bool include_secrets = false);

}  // namespace kiwi
