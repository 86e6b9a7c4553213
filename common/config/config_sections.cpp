#include "common/config/config_sections.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <iterator>

#include <nlohmann/json.hpp>

#include "common/base/json_fields.hpp"

namespace kiwi {
namespace {

using json = nlohmann::json;
using namespace json_fields;

// An IPv4 CIDR in a private range whose host bits are zero: the bridge's gateway is its
// first address, builds get the rest.
bool is_build_subnet(const std::string& cidr) {
  unsigned a = 0, b = 0, c = 0, d = 0, prefix = 0;
  char tail = 0;
  if (std::sscanf(cidr.c_str(), "%3u.%3u.%3u.%3u/%2u%c", &a, &b, &c, &d, &prefix, &tail) != 5 ||
      a > 255 || b > 255 || c > 255 || d > 255 || prefix < 16 || prefix > 28 ||
      cidr.find_first_not_of("0123456789./") != std::string::npos) {
    return false;
  }
  const std::uint32_t address = (a << 24) | (b << 16) | (c << 8) | d;
  const std::uint32_t host_bits = (std::uint32_t{1} << (32 - prefix)) - 1;
  const bool is_private = a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168);
  return is_private && (address & host_bits) == 0;
}

// build.wizard_images: {"node": "node:20.18-bookworm-slim@sha256:...", ...}; each key given
// replaces that default.
void parse_wizard_images(const json& images, wizard_images& out) {
  if (!images.is_object()) {
    fail("build.wizard_images", "must be an object of image references, e.g. {\"node\": "
                                "\"node:20.18-bookworm-slim\"}");
  }
  const std::pair<const char*, std::string*> fields[] = {
      {"node", &out.node},     {"python", &out.python},
      {"maven", &out.maven},   {"gradle", &out.gradle},
      {"java_runtime", &out.java_runtime}, {"go", &out.go},
      {"go_runtime", &out.go_runtime}};
  for (const auto& item : images.items()) {
    // Not a structured binding: clang 14 (the fuzz and tidy builds) cannot capture one.
    const std::string& key = item.key();
    const json& value = item.value();
    const std::string path = "build.wizard_images." + key;
    const auto* field = std::find_if(std::begin(fields), std::end(fields),
                                     [&](const auto& f) { return key == f.first; });
    if (field == std::end(fields)) {
      fail(path, "unknown key; the wizard's images are node, python, maven, gradle, "
                 "java_runtime, go and go_runtime (docs/build.md)");
    }
    if (!value.is_string()) {
      fail(path, "must be a string: one image reference");
    }
    const std::string image = value.get<std::string>();
    const bool spaced = std::any_of(image.begin(), image.end(), [](char ch) {
      const auto u = static_cast<unsigned char>(ch);
      return std::isspace(u) || std::iscntrl(u);
    });
    if (image.empty() || spaced) {
      fail(path, "must be one image reference without spaces, e.g. node:20.18-bookworm-slim "
                 "or node:20.18-bookworm-slim@sha256:<digest>");
    }
    *field->second = image;
  }
}

}  // namespace

void parse_config_sections(const json& root, kiwi_config& c) {
  if (const json* h = member(root, "http")) {
    if (!h->is_object()) {
      fail("http", "must be an object");
    }
    reject_unknown(*h, "http",
                   {"threads", "max_connections", "header_timeout_ms", "body_timeout_ms",
                    "idle_timeout_ms", "shutdown_grace_ms", "max_connections_per_client",
                    "max_event_streams_per_client", "max_api_body_bytes",
                    "max_buffered_body_bytes"});
    c.http.threads = static_cast<unsigned>(get_uint(*h, "threads", "http.threads", 1, 1, 64));
    c.http.max_connections =
        get_uint(*h, "max_connections", "http.max_connections", 2048, 1, 1'000'000);
    using ms = std::chrono::milliseconds;
    c.http.header_timeout =
        ms(get_uint(*h, "header_timeout_ms", "http.header_timeout_ms", 10'000, 10, 3'600'000));
    c.http.body_timeout =
        ms(get_uint(*h, "body_timeout_ms", "http.body_timeout_ms", 30'000, 10, 3'600'000));
    c.http.idle_timeout =
        ms(get_uint(*h, "idle_timeout_ms", "http.idle_timeout_ms", 60'000, 10, 3'600'000));
    c.http.shutdown_grace =
        ms(get_uint(*h, "shutdown_grace_ms", "http.shutdown_grace_ms", 15'000, 0, 3'600'000));
    c.http.max_connections_per_client =
        get_uint(*h, "max_connections_per_client", "http.max_connections_per_client", 0, 0,
                 c.http.max_connections);
    c.http.max_event_streams_per_client =
        get_uint(*h, "max_event_streams_per_client", "http.max_event_streams_per_client", 32, 0,
                 1'000'000);
    c.http.max_api_body_bytes = get_uint(*h, "max_api_body_bytes", "http.max_api_body_bytes",
                                         256 * 1024, 1024, 64ull * 1024 * 1024);
    c.http.max_buffered_body_bytes =
        get_uint(*h, "max_buffered_body_bytes", "http.max_buffered_body_bytes",
                 64ull * 1024 * 1024, 1024, 64ull * 1024 * 1024 * 1024);
  } else {
    c.http.max_connections_per_client = 0;
  }
  if (c.http.max_connections_per_client == 0) {  // the default: a quarter of the connections
    c.http.max_connections_per_client = std::max<std::size_t>(1, c.http.max_connections / 4);
  }
  if (c.max_body_bytes > c.http.max_buffered_body_bytes ||
      c.http.max_api_body_bytes > c.http.max_buffered_body_bytes) {
    fail("http.max_buffered_body_bytes",
         "must be at least max_body_bytes and http.max_api_body_bytes (else no such body fits)");
  }

  if (const json* w = member(root, "worker")) {
    if (!w->is_object()) {
      fail("worker", "must be an object");
    }
    reject_unknown(*w, "worker",
                   {"concurrency", "blocking_threads", "clone_timeout_s", "keep_workspaces",
                    "drain_timeout_ms", "build_timeout_s", "max_log_lines", "storage_driver",
                    "sweep_interval_s"});
    c.worker.concurrency =
        static_cast<unsigned>(get_uint(*w, "concurrency", "worker.concurrency", 4, 1, 1024));
    c.worker.blocking_threads = static_cast<unsigned>(
        get_uint(*w, "blocking_threads", "worker.blocking_threads", 4, 1, 256));
    c.worker.clone_timeout = std::chrono::seconds(
        get_uint(*w, "clone_timeout_s", "worker.clone_timeout_s", 30, 1, 3600));
    c.worker.keep_workspaces = get_bool(*w, "keep_workspaces", "worker.keep_workspaces", false);
    c.worker.drain_timeout = std::chrono::milliseconds(
        get_uint(*w, "drain_timeout_ms", "worker.drain_timeout_ms", 30'000, 0, 3'600'000));
    c.worker.build_timeout = std::chrono::seconds(
        get_uint(*w, "build_timeout_s", "worker.build_timeout_s", 1800, 10, 24 * 3600));
    c.worker.max_log_lines = static_cast<unsigned>(
        get_uint(*w, "max_log_lines", "worker.max_log_lines", 5000, 100, 9000));
    c.worker.storage_driver =
        get_string(*w, "storage_driver", "worker.storage_driver", false, "overlay");
    c.worker.sweep_interval = std::chrono::seconds(
        get_uint(*w, "sweep_interval_s", "worker.sweep_interval_s", 600, 0, 7 * 24 * 3600));
    if (c.worker.storage_driver != "overlay" && c.worker.storage_driver != "vfs") {
      fail("worker.storage_driver", "must be overlay or vfs");
    }
  }

  if (const json* q = member(root, "queue")) {
    if (!q->is_object()) {
      fail("queue", "must be an object");
    }
    reject_unknown(*q, "queue",
                   {"visibility_timeout_ms", "max_attempts", "retry_base_ms", "retry_max_ms"});
    using ms = std::chrono::milliseconds;
    c.queue.visibility_timeout = ms(get_uint(*q, "visibility_timeout_ms",
                                             "queue.visibility_timeout_ms", 60'000, 500,
                                             86'400'000));
    c.queue.max_attempts =
        static_cast<unsigned>(get_uint(*q, "max_attempts", "queue.max_attempts", 3, 1, 100));
    c.queue.retry_base =
        ms(get_uint(*q, "retry_base_ms", "queue.retry_base_ms", 2'000, 1, 3'600'000));
    c.queue.retry_max =
        ms(get_uint(*q, "retry_max_ms", "queue.retry_max_ms", 300'000, 1, 86'400'000));
    if (c.queue.retry_max < c.queue.retry_base) {
      fail("queue.retry_max_ms", "must be at least queue.retry_base_ms");
    }
  }


  if (const json* r = member(root, "retention")) {
    if (!r->is_object()) {
      fail("retention",
           "must be an object: {\"builds_per_service\": 200, \"max_age_days\": 90}");
    }
    reject_unknown(*r, "retention", {"builds_per_service", "max_age_days"});
    c.retention.builds_per_service = static_cast<unsigned>(
        get_uint(*r, "builds_per_service", "retention.builds_per_service", 200, 0, 1'000'000));
    c.retention.max_age_days = static_cast<unsigned>(
        get_uint(*r, "max_age_days", "retention.max_age_days", 90, 0, 36'500));
    if (c.retention.builds_per_service == 0 && c.retention.max_age_days == 0) {
      fail("retention.builds_per_service",
           "is 0 and so is retention.max_age_days: every finished build would be removed; keep "
           "at least one of the two above 0");
    }
  }

  if (const json* g = member(root, "git")) {
    if (!g->is_object()) {
      fail("git", "must be an object: {\"allowed_hosts\": [...], \"denied_hosts\": [...]}");
    }
    reject_unknown(*g, "git", {"allowed_hosts", "denied_hosts"});
    for (auto [key, list] : {std::pair{"allowed_hosts", &c.git.hosts.allowed},
                             std::pair{"denied_hosts", &c.git.hosts.denied}}) {
      const json* patterns = member(*g, key);
      if (patterns == nullptr) {
        continue;
      }
      const std::string path = std::string("git.") + key;
      if (!patterns->is_array()) {
        fail(path, "must be a list of host names, *.domains, IP addresses or CIDR ranges");
      }
      list->clear();
      for (const json& p : *patterns) {
        if (!p.is_string()) {
          fail(path, "must be a list of strings");
        }
        if (const std::string problem = check_host_pattern(p.get<std::string>());
            !problem.empty()) {
          fail(path, problem);
        }
        list->push_back(p.get<std::string>());
      }
    }
  }

  if (const json* b = member(root, "build")) {
    if (!b->is_object()) {
      fail("build", "must be an object");
    }
    reject_unknown(*b, "build", {"wizard_images", "network", "subnet"});
    if (const json* images = member(*b, "wizard_images")) {
      parse_wizard_images(*images, c.build.wizard_images);
    }
    c.build.network = get_string(*b, "network", "build.network", false, "isolated");
    if (c.build.network != "isolated" && c.build.network != "none" &&
        c.build.network != "host") {
      fail("build.network", "must be isolated (the default), none, or host (RUN steps then "
                            "reach every service of the worker's machine; docs/security.md)");
    }
    c.build.subnet = get_string(*b, "subnet", "build.subnet", false, c.build.subnet);
    if (!is_build_subnet(c.build.subnet)) {
      fail("build.subnet", "must be a private IPv4 subnet from /16 to /28 with its network "
                           "address, e.g. 10.231.0.0/24");
    }
  }

  if (const json* s = member(root, "scan")) {
    if (!s->is_object()) {
      fail("scan", R"(must be an object, e.g. {"trivy_path": "/usr/local/bin/trivy"})");
    }
    reject_unknown(*s, "scan", {"trivy_path", "image", "timeout_s", "max_report_bytes"});
    c.scan.trivy_path = get_string(*s, "trivy_path", "scan.trivy_path", false);
    if (!c.scan.trivy_path.empty() && c.scan.trivy_path.front() != '/') {
      fail("scan.trivy_path", "must be an absolute path to the trivy executable, e.g. "
                              "/usr/local/bin/trivy (empty: no scanner, scans are skipped)");
    }
    c.scan.image = get_string(*s, "image", "scan.image", false, c.scan.image);
    if (c.scan.image.empty() || c.scan.image.find_first_of(" \t\n") != std::string::npos) {
      fail("scan.image", "must be one image reference without spaces, e.g. "
                         "docker.io/aquasec/trivy:0.58.1");
    }
    c.scan.timeout =
        std::chrono::seconds(get_uint(*s, "timeout_s", "scan.timeout_s", 300, 5, 24 * 3600));
    c.scan.max_report_bytes =
        get_uint(*s, "max_report_bytes", "scan.max_report_bytes", 4ull * 1024 * 1024, 4096,
                 256ull * 1024 * 1024);
  }

}

}  // namespace kiwi
