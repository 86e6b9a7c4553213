#pragma once
// Kiwi's configuration: one JSON file shared by kiwid and kiwi-worker (docs/configuration.md).
// Loading validates everything and throws config_error naming the key and what is wrong.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/build/dockerfile.hpp"
#include "common/security/host_policy.hpp"
#include "common/config/resources.hpp"

namespace kiwi {

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// TLS to Redis (rediss:// URLs): the server's certificate is always verified, against
// ca_file when given, else the system's trust store.
struct redis_tls_config {
  std::filesystem::path ca_file;     // PEM CA bundle; empty: the system's
  std::filesystem::path cert_file;   // client certificate (Redis' tls-auth-clients)
  std::filesystem::path key_file;    // its key; both or neither
  std::string server_name;           // name checked in the certificate; empty: the URL's host
};

struct redis_endpoint {
  std::string unix_path;  // set for unix:// URLs
  std::string host;       // set for redis:// and rediss:// URLs
  unsigned short port = 6379;
  int db = 0;
  std::string username;   // ACL user; empty: Redis' default user
  std::string password;   // from the URL or redis_password_file; empty: no AUTH. Never logged.
  bool tls = false;       // rediss://
  redis_tls_config tls_options;
  // Which config key holds the password (for errors): "redis" or "redis_password_file".
  std::string password_source;
  std::string describe() const;  // for logs; never contains a password
};


struct http_config {
  unsigned threads = 1;
  std::size_t max_connections = 2048;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds shutdown_grace{15'000};
  // Limits checked before authentication (docs/security.md). 0 in the file means a quarter of
  // max_connections: no one client address can hold every connection.
  std::size_t max_connections_per_client = 512;
  std::size_t max_event_streams_per_client = 32;
  std::size_t max_api_body_bytes = 256 * 1024;              // bodies of /api/v1 requests
  std::size_t max_buffered_body_bytes = 64 * 1024 * 1024;  // request bodies held at once
};

struct worker_config {
  unsigned concurrency = 4;
  unsigned blocking_threads = 4;
  std::chrono::seconds clone_timeout{30};
  bool keep_workspaces = false;
  // SIGTERM: how long running stages may go on before their jobs are handed back.
  std::chrono::milliseconds drain_timeout{30'000};
  std::chrono::seconds build_timeout{1800};  // the build stage's deadline, and the push stage's
  // stage.log lines stored per build (a build's event stream holds ~10,000 entries); the rest
  // is dropped after one truncation line, and a failure still carries the last 20 lines.
  unsigned max_log_lines = 5000;
  std::string storage_driver = "overlay";  // buildah's: overlay, or vfs where overlay fails
  // The disk sweep (leftovers of killed builds, mirrors of deleted services, dangling images)
  // runs at start and then this often; 0: at start only.
  std::chrono::seconds sweep_interval{600};
};

// The reliable queue (docs/queue.md).
struct queue_config {
  std::chrono::milliseconds visibility_timeout{60'000};  // a silent worker's jobs are reclaimed
  unsigned max_attempts = 3;                             // tries before a dead letter
  std::chrono::milliseconds retry_base{2'000};           // first retry delay (before jitter)
  std::chrono::milliseconds retry_max{300'000};          // cap on a retry delay
};

// Which builds are kept (docs/redis.md#retention): a build is removed only when it is both
// beyond its service's newest builds_per_service and queued more than max_age_days ago (so
// whichever rule keeps more wins); never the service's last successful build, a build a
// deployment revision references, or one that has not ended. 0 turns one rule off.
struct retention_config {
  unsigned builds_per_service = 200;
  unsigned max_age_days = 90;
};

// The build stage (docs/build.md), shared by kiwi-worker and kiwid's Dockerfile preview.
struct build_config {
  kiwi::wizard_images wizard_images;  // the wizard's base images; each key may be overridden
  // What RUN steps of local (buildah) builds may reach (docs/security.md): "isolated" (their
  // own network namespace on Kiwi's bridge, outbound only; the host's own addresses dropped),
  // "none" (no network at all) or "host" (the worker's network: an explicit, unsafe opt-in).
  std::string network = "isolated";
  std::string subnet = "10.231.0.0/24";  // isolated: the IPv4 subnet of Kiwi's build bridge
};

// The image scanner (docs/scan.md): Trivy, run by the worker's scan stage on every image it
// builds before the push. No trivy_path: no scanner is configured, and the scan stage is
// skipped and says so.
struct scan_settings {
  std::string trivy_path;  // the trivy executable; empty: no scanner
  // The scanner's image, for builds on Kubernetes (Kaniko), pinned by tag.
  std::string image = "docker.io/aquasec/trivy:0.58.1";
  std::chrono::seconds timeout{300};                 // a scan that runs longer fails the build
  std::size_t max_report_bytes = 4 * 1024 * 1024;    // a larger report fails the build
};

// Where git connections may go (clone, fetch, connection test, preview): docs/security.md.
struct git_config {
  host_policy hosts;  // git.allowed_hosts / git.denied_hosts
};

// The registration API (docs/api.md).
struct api_config {
  bool enabled = true;
  std::filesystem::path admin_token_file;  // default <data_dir>/admin.token, made if missing
};

struct kiwi_config {
  std::string listen_host = "127.0.0.1";
  unsigned short listen_port = 8080;
  redis_endpoint redis;
  std::filesystem::path data_dir;
  std::string public_url;  // how git servers reach kiwid (webhook URLs); empty: http://<listen>
  std::filesystem::path secrets_key_file;   // default <data_dir>/secrets.key, made if missing
  api_config api;
  std::size_t max_body_bytes = 2 * 1024 * 1024;  // webhook bodies
  // The same push (service, after SHA, body digest) under a new or missing delivery id within
  // this window answers the original build; 0 turns the replay guard off.
  std::chrono::seconds webhook_replay_window{24 * 3600};
  git_config git;
  std::chrono::milliseconds redis_timeout{800};
  http_config http;
  worker_config worker;
  queue_config queue;
  retention_config retention;
  build_config build;
  scan_settings scan;
  std::vector<registry_config> registries;
  std::vector<runtime_config> runtimes;
  std::vector<service_config> services;

  const service_config* find_service(std::string_view name) const;
  const registry_config* find_registry(std::string_view name) const;
  const runtime_config* find_runtime(std::string_view name) const;
};

// Parses and validates a configuration document. base_dir resolves relative paths.
kiwi_config parse_config(std::string_view json_text, const std::filesystem::path& base_dir);
kiwi_config load_config(const std::filesystem::path& file);

redis_endpoint parse_redis_url(std::string_view url);  // throws config_error

}  // namespace kiwi
