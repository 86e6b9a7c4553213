#include "common/config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/base/json_fields.hpp"
#include "common/config/redis_url.hpp"

namespace kiwi {
namespace {

using json = nlohmann::json;
using namespace json_fields;

// A resource's field_error, renamed for the config file: "services[user-api].git_url".
template <class Parse>
auto parse_listed(const json& list, const char* what, Parse parse, const parse_context& ctx) {
  using resource = decltype(parse(json{}, ctx));
  std::vector<resource> out;
  if (!list.is_array()) {
    fail(what, "must be a list");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    std::string at = std::string(what) + "[" + std::to_string(i) + "]";
    try {
      resource r = parse(item, ctx);
      for (const auto& seen : out) {
        if (seen.name == r.name) {
          fail(at + ".name", "\"" + r.name + "\" is declared twice; names must be unique");
        }
      }
      r.read_only = true;
      out.push_back(std::move(r));
    } catch (const field_error& e) {
      if (e.field.starts_with(what)) {
        throw;
      }
      // Name the resource by its name once the name itself is valid.
      const json* name = item.is_object() ? member(item, "name") : nullptr;
      if (e.field != "name" && name != nullptr && name->is_string() &&
          is_dns1123_label(name->get<std::string>())) {
        at = std::string(what) + "[" + name->get<std::string>() + "]";
      }
      fail(e.field.empty() ? at : at + "." + e.field, e.what());
    }
  }
  return out;
}

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
  const auto& fields = wizard_image_fields();
  for (const auto& [key, value] : images.items()) {
    const std::string path = "build.wizard_images." + key;
    const auto field = std::find_if(fields.begin(), fields.end(),
                                    [&](const auto& f) { return key == f.key; });
    if (field == fields.end()) {
      std::string keys;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        keys += (i == 0 ? "" : i + 1 == fields.size() ? " and " : ", ") +
                std::string(fields[i].key);
      }
      fail(path, "unknown key; the wizard's images are " + keys + " (docs/build.md)");
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
    out.*field->image = image;
  }
}

}  // namespace

const registry_config* kiwi_config::find_registry(std::string_view name) const {
  for (const auto& r : registries) {
    if (r.name == name) {
      return &r;
    }
  }
  return nullptr;
}

const runtime_config* kiwi_config::find_runtime(std::string_view name) const {
  for (const auto& r : runtimes) {
    if (r.name == name) {
      return &r;
    }
  }
  return nullptr;
}

const service_config* kiwi_config::find_service(std::string_view name) const {
  for (const auto& s : services) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

namespace {

kiwi_config parse_config_fields(std::string_view json_text, const std::filesystem::path& base_dir) {
  json root = json::parse(json_text, nullptr, false);
  if (root.is_discarded()) {
    throw config_error("config is not valid JSON (check for trailing commas and quotes)");
  }
  if (!root.is_object()) {
    throw config_error("config must be a JSON object");
  }
  reject_unknown(root, "",
                 {"listen", "redis", "data_dir", "max_body_bytes", "http", "redis_timeout_ms",
                  "worker", "queue", "build", "registries", "runtimes", "services",
                  "public_url", "secrets_key_file", "api", "git", "webhook_replay_window_s",
                  "redis_password_file", "redis_tls"});
  kiwi_config c;

  std::string listen = get_string(root, "listen", "listen", false, "127.0.0.1:8080");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    fail("listen", "must be host:port, e.g. 127.0.0.1:8080");
  }
  c.listen_host = listen.substr(0, colon);
  if (c.listen_host.size() > 2 && c.listen_host.front() == '[' && c.listen_host.back() == ']') {
    c.listen_host = c.listen_host.substr(1, c.listen_host.size() - 2);
  }
  try {
    std::size_t used = 0;
    std::string p = listen.substr(colon + 1);
    int port = std::stoi(p, &used);
    if (used != p.size() || port < 0 || port > 65535) {
      throw std::invalid_argument("port");
    }
    c.listen_port = static_cast<unsigned short>(port);
  } catch (const std::exception&) {
    fail("listen", "the port must be a number between 0 and 65535");
  }

  c.redis = redis_endpoint_from_config(root, base_dir);
  std::filesystem::path data_dir = get_string(root, "data_dir", "data_dir", true);
  if (data_dir.empty()) {
    fail("data_dir", "must not be empty");
  }
  c.data_dir = data_dir.is_relative() ? base_dir / data_dir : data_dir;
  // Empty: kiwid derives it from the address it listens on (after binding a port 0).
  c.public_url = get_string(root, "public_url", "public_url", false);
  if (!c.public_url.empty() && !c.public_url.starts_with("http://") &&
      !c.public_url.starts_with("https://")) {
    fail("public_url", "must be the http(s):// address git servers use to reach kiwid");
  }
  while (c.public_url.ends_with("/")) {
    c.public_url.pop_back();
  }
  auto path_in = [&](const char* key, const char* fallback) {
    std::filesystem::path p = get_string(root, key, key, false);
    if (p.empty()) {
      return c.data_dir / fallback;
    }
    return p.is_relative() ? base_dir / p : p;
  };
  c.secrets_key_file = path_in("secrets_key_file", "secrets.key");
  c.api.admin_token_file = c.data_dir / "admin.token";
  if (const json* a = member(root, "api")) {
    if (!a->is_object()) {
      fail("api", "must be an object");
    }
    reject_unknown(*a, "api", {"enabled", "admin_token_file"});
    c.api.enabled = get_bool(*a, "enabled", "api.enabled", true);
    std::filesystem::path t = get_string(*a, "admin_token_file", "api.admin_token_file", false);
    if (!t.empty()) {
      c.api.admin_token_file = t.is_relative() ? base_dir / t : t;
    }
  }
  c.max_body_bytes = get_uint(root, "max_body_bytes", "max_body_bytes", c.max_body_bytes, 1024,
                              1024ull * 1024 * 1024);
  c.redis_timeout = std::chrono::milliseconds(
      get_uint(root, "redis_timeout_ms", "redis_timeout_ms", 800, 10, 60'000));

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
                    "drain_timeout_ms", "build_timeout_s", "max_log_lines", "storage_driver"});
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

  c.webhook_replay_window = std::chrono::seconds(get_uint(
      root, "webhook_replay_window_s", "webhook_replay_window_s", 24 * 3600, 0, 30 * 24 * 3600));
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

  parse_context ctx;
  ctx.base_dir = base_dir.string();
  if (const json* r = member(root, "registries")) {
    c.registries = parse_listed(*r, "registries", parse_registry, ctx);
  }
  if (const json* r = member(root, "runtimes")) {
    c.runtimes = parse_listed(*r, "runtimes", parse_runtime, ctx);
  }
  if (const json* s = member(root, "services")) {
    c.services = parse_listed(*s, "services", parse_service, ctx);
  }
  for (const auto& svc : c.services) {
    const std::string at = "services[" + svc.name + "]";
    if (!svc.registry.empty() && c.find_registry(svc.registry) == nullptr) {
      fail(at + ".registry", "no registry named \"" + svc.registry + "\" in \"registries\"");
    }
    if (svc.build_runtime != "local") {
      const runtime_config* rt = c.find_runtime(svc.build_runtime);
      if (rt == nullptr || rt->type != "kubernetes") {
        fail(at + ".build_runtime", "\"" + svc.build_runtime +
                                        "\" is not a kubernetes runtime in \"runtimes\"; use "
                                        "\"local\" for buildah on the worker");
      }
    }
  }
  return c;
}

}  // namespace

kiwi_config parse_config(std::string_view json_text, const std::filesystem::path& base_dir) {
  try {
    return parse_config_fields(json_text, base_dir);
  } catch (const field_error& e) {
    throw config_error("config key \"" + e.field + "\": " + e.what());
  }
}

kiwi_config load_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    throw config_error("cannot read config file " + file.string());
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto base = std::filesystem::absolute(file).parent_path();
  return parse_config(buf.str(), base);
}

}  // namespace kiwi
