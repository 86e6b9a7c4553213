#include "common/config/config.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/base/json_fields.hpp"
#include "common/config/config_sections.hpp"
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
                  "redis_password_file", "redis_tls", "retention", "scan"});
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

  c.webhook_replay_window = std::chrono::seconds(get_uint(
      root, "webhook_replay_window_s", "webhook_replay_window_s", 24 * 3600, 0, 30 * 24 * 3600));
  parse_config_sections(root, c);

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
    for (std::size_t i = 0; i < svc.deploy.size(); ++i) {
      if (c.find_runtime(svc.deploy[i].runtime) == nullptr) {
        fail(at + ".deploy[" + std::to_string(i) + "].runtime",
             "no runtime named \"" + svc.deploy[i].runtime + "\" in \"runtimes\"");
      }
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
