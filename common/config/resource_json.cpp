#include "common/config/resources.hpp"

#include <nlohmann/json.hpp>

#include "common/config/deploy_environment.hpp"

namespace kiwi {

using json = nlohmann::json;

namespace {
json secret(const std::string& value, bool include) {
  if (value.empty()) {
    return nullptr;
  }
  return include ? json(value) : json("***");
}
}  // namespace

json to_json(const service_config& s, bool include_secrets) {
  json d{{"mode", s.dockerfile.mode}};
  if (s.dockerfile.mode == "path") {
    d["path"] = s.dockerfile.path;
    d["context"] = s.dockerfile.context;
  } else if (s.dockerfile.mode == "wizard") {
    d["language"] = s.dockerfile.language;
    d["framework"] = s.dockerfile.framework;
  }
  json j{{"name", s.name},
         {"git_url", s.git_url},
         {"branch", s.branch},
         {"git_username", s.git_username},
         {"build_tags", s.build_tags},
         {"cancel_superseded", s.cancel_superseded},
         {"max_concurrent_builds", s.max_concurrent_builds},
         {"dockerfile", d},
         {"registry", s.registry},
         {"image", s.image},
         {"tag_rule", s.tag_rule},
         {"build_runtime", s.build_runtime}};
  for (auto [key, value] : {std::pair{"token", &s.token}, std::pair{"ssh_key", &s.ssh_key},
                            std::pair{"webhook_secret", &s.webhook_secret}}) {
    if (!value->empty()) {
      j[key] = secret(*value, include_secrets);
    }
  }
  if (!s.ssh_known_hosts.empty()) {
    j["ssh_known_hosts"] = s.ssh_known_hosts;  // public keys: shown as they are
  }
  if (!s.deploy.empty()) {
    json& d = j["deploy"] = json::array();
    for (const auto& e : s.deploy) {
      d.push_back(to_json(e, include_secrets));
    }
  }
  json ignore = json::array();
  for (const scan_ignore& i : s.scan.ignore) {
    json e{{"id", i.id}};
    if (!i.expires.empty()) e["expires"] = i.expires;
    if (!i.reason.empty()) e["reason"] = i.reason;
    ignore.push_back(std::move(e));
  }
  j["scan"] = {{"enabled", s.scan.enabled},
               {"fail_on", s.scan.fail_on},
               {"ignore_unfixed", s.scan.ignore_unfixed},
               {"ignore", ignore}};
  return j;
}

json to_json(const registry_config& r, bool include_secrets) {
  json j{{"name", r.name}, {"url", r.url}, {"username", r.username}, {"insecure", r.insecure}};
  if (!r.password.empty()) {
    j["password"] = secret(r.password, include_secrets);
  }
  return j;
}

json to_json(const runtime_config& r, bool include_secrets) {
  json j{{"name", r.name}, {"type", r.type}};
  if (r.type == "kubernetes") {
    j["api_url"] = r.api_url;
    j["namespace"] = r.namespace_;
    if (!r.ca_cert.empty()) j["ca_cert"] = r.ca_cert;
    j["token"] = secret(r.token, include_secrets);
    const kaniko_settings& k = r.kaniko;
    j["kaniko"] = {{"image", k.image},
                   {"git_image", k.git_image},
                   {"cpu_request", k.cpu_request},
                   {"memory_request", k.memory_request},
                   {"cpu_limit", k.cpu_limit},
                   {"memory_limit", k.memory_limit},
                   {"service_account", k.service_account},
                   {"pending_timeout_s", k.pending_timeout_s},
                   {"poll_interval_ms", k.poll_interval_ms},
                   {"cache", k.cache}};
    j["deploy_force_conflicts"] = r.deploy_force_conflicts;
  } else {
    if (!r.socket.empty()) j["socket"] = r.socket;
    if (!r.url.empty()) j["url"] = r.url;
    if (!r.tls_ca_cert.empty()) j["tls_ca_cert"] = r.tls_ca_cert;
    if (!r.tls_cert.empty()) j["tls_cert"] = r.tls_cert;
    if (!r.tls_key.empty()) j["tls_key"] = secret(r.tls_key, include_secrets);
  }
  return j;
}

}  // namespace kiwi
