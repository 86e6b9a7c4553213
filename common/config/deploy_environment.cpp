#include "common/config/deploy_environment.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/base/json_fields.hpp"
#include "common/config/resource_fields.hpp"

namespace kiwi {

using json = nlohmann::json;
using namespace json_fields;

namespace {

// What a name gives before its fields are read (docs/deploy.md#presets).
environment_config preset(const std::string& name) {
  environment_config e;
  e.name = name;
  if (name == "development") {
    e.replicas = 1;
    e.resources.requests = {"50m", "64Mi"};
    e.auto_deploy = true;
  } else if (name == "staging" || name == "production") {
    e.replicas = 2;
    e.resources.requests = {"250m", "256Mi"};
    e.auto_rollback = true;
  }
  return e;
}

bool is_env_name(const std::string& k) {
  if (k.empty() || k.size() > 255 || (k.front() >= '0' && k.front() <= '9')) {
    return false;
  }
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::pair<std::string, std::string>> parse_variables(const json& j,
                                                                 const std::string& path) {
  if (!j.is_object()) {
    fail(path, R"(must be an object of names to string values, e.g. {"LOG_LEVEL": "info"})");
  }
  if (j.size() > 200) {
    fail(path, "at most 200 variables");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : j.items()) {
    if (!is_env_name(key)) {
      fail(path + "." + key, "is not a variable name: letters, digits and '_', not starting "
                             "with a digit (e.g. DATABASE_URL)");
    }
    if (!value.is_string()) {
      fail(path + "." + key, "must be a string (quote numbers and booleans)");
    }
    if (value.get<std::string>().size() > 32768) {
      fail(path + "." + key, "is longer than 32768 bytes");
    }
    out.emplace_back(key, value.get<std::string>());
  }
  return out;
}

resource_amounts parse_amounts(const json& j, const std::string& path, resource_amounts a) {
  if (!j.is_object()) {
    fail(path, R"(must be an object such as {"cpu": "250m", "memory": "256Mi"})");
  }
  reject_unknown(j, path, {"cpu", "memory"});
  a.cpu = get_string(j, "cpu", path + ".cpu", false, a.cpu);
  a.memory = get_string(j, "memory", path + ".memory", false, a.memory);
  for (auto [key, value] : {std::pair{"cpu", &a.cpu}, std::pair{"memory", &a.memory}}) {
    if (!value->empty() && !resource_fields::is_quantity(*value)) {
      fail(path + "." + key, "\"" + *value + "\" is not a Kubernetes quantity such as " +
                                 (value == &a.cpu ? "250m or 1" : "256Mi or 1Gi"));
    }
  }
  return a;
}

health_check parse_health(const json& j, const std::string& path) {
  if (!j.is_object()) {
    fail(path, R"(must be an object such as {"path": "/healthz"})");
  }
  reject_unknown(j, path, {"path", "port", "interval_s", "timeout_s", "startup_s"});
  health_check h;
  h.path = get_string(j, "path", path + ".path", false);
  if (!h.path.empty() && (h.path.front() != '/' ||
                          h.path.find_first_of(" \t\r\n") != std::string::npos)) {
    fail(path + ".path", "must be an HTTP path starting with / (e.g. /healthz)");
  }
  h.port = static_cast<unsigned>(get_uint(j, "port", path + ".port", 0, 0, 65535));
  h.interval_s = static_cast<unsigned>(get_uint(j, "interval_s", path + ".interval_s", 2, 1, 300));
  h.timeout_s = static_cast<unsigned>(get_uint(j, "timeout_s", path + ".timeout_s", 2, 1, 300));
  h.startup_s = static_cast<unsigned>(get_uint(j, "startup_s", path + ".startup_s", 5, 0, 3600));
  return h;
}

json variables_json(const std::vector<std::pair<std::string, std::string>>& vars, bool secret) {
  json j = json::object();
  for (const auto& [k, v] : vars) {
    j[k] = secret ? json("***") : json(v);
  }
  return j;
}

}  // namespace

environment_config parse_environment(const json& j, const std::string& where) {
  auto at = [&](const char* key) { return where + "." + key; };
  if (!j.is_object()) {
    fail(where, R"(must be an object such as {"name": "development", "runtime": "local-docker"})");
  }
  reject_unknown(j, where,
                 {"name", "runtime", "namespace", "replicas", "resources", "env", "secret_env",
                  "port", "host_port", "auto_deploy", "auto_rollback", "allow_single_replica",
                  "restart_policy", "deadline_s", "health"});
  const std::string name = get_string(j, "name", at("name"), true);
  if (!is_dns1123_label(name)) {
    fail(at("name"), "\"" + name + "\" is not a DNS-1123 label: development, staging, "
                     "production, or 1-63 lowercase letters, digits and '-' (e.g. qa-eu)");
  }
  environment_config e = preset(name);
  e.runtime = get_string(j, "runtime", at("runtime"), true);
  if (!is_dns1123_label(e.runtime)) {
    fail(at("runtime"), "must name a runtime (docker or kubernetes) registered under runtimes");
  }
  e.namespace_ = get_string(j, "namespace", at("namespace"), false);
  if (!e.namespace_.empty() && !is_dns1123_label(e.namespace_)) {
    fail(at("namespace"), "\"" + e.namespace_ + "\" is not a Kubernetes namespace name");
  }
  e.replicas = static_cast<unsigned>(get_uint(j, "replicas", at("replicas"), e.replicas, 1, 100));
  e.allow_single_replica = get_bool(j, "allow_single_replica", at("allow_single_replica"), false);
  if (is_production(e) && e.replicas < 2 && !e.allow_single_replica) {
    fail(at("replicas"), "production runs at least 2 replicas (one replica is an outage at "
                         "every deploy or crash); set \"allow_single_replica\": true to accept it");
  }
  if (const json* r = member(j, "resources")) {
    if (!r->is_object()) {
      fail(at("resources"), R"(must be an object: {"requests": {...}, "limits": {...}})");
    }
    reject_unknown(*r, at("resources"), {"requests", "limits"});
    if (const json* q = member(*r, "requests")) {
      e.resources.requests = parse_amounts(*q, at("resources.requests"), e.resources.requests);
    }
    if (const json* l = member(*r, "limits")) {
      e.resources.limits = parse_amounts(*l, at("resources.limits"), e.resources.limits);
    }
  }
  if (const json* v = member(j, "env")) {
    e.env = parse_variables(*v, at("env"));
  }
  if (const json* v = member(j, "secret_env")) {
    e.secret_env = parse_variables(*v, at("secret_env"));
  }
  for (const auto& secret : e.secret_env) {
    const std::string& k = secret.first;  // a named copy: clang 14 cannot capture a binding
    if (std::any_of(e.env.begin(), e.env.end(), [&](const auto& p) { return p.first == k; })) {
      fail(at("secret_env") + "." + k, "is also in env; give each variable once");
    }
  }
  e.port = static_cast<unsigned>(get_uint(j, "port", at("port"), 0, 0, 65535));
  e.host_port = static_cast<unsigned>(get_uint(j, "host_port", at("host_port"), 0, 0, 65535));
  if (e.host_port != 0 && e.port == 0) {
    fail(at("host_port"), "publishes \"port\": give the container port too");
  }
  e.auto_deploy = get_bool(j, "auto_deploy", at("auto_deploy"), e.auto_deploy);
  e.auto_rollback = get_bool(j, "auto_rollback", at("auto_rollback"), e.auto_rollback);
  e.restart_policy = get_string(j, "restart_policy", at("restart_policy"), false, e.restart_policy);
  if (e.restart_policy != "no" && e.restart_policy != "always" &&
      e.restart_policy != "unless-stopped" && e.restart_policy != "on-failure") {
    fail(at("restart_policy"), "must be no, always, unless-stopped or on-failure");
  }
  e.deadline_s =
      static_cast<unsigned>(get_uint(j, "deadline_s", at("deadline_s"), e.deadline_s, 1, 3600));
  if (const json* h = member(j, "health")) {
    e.health = parse_health(*h, at("health"));
  }
  return e;
}

std::vector<environment_config> parse_deploy(const json& j) {
  if (!j.is_array()) {
    fail("deploy", R"(must be a list of environments, e.g. [{"name": "development", )"
                   R"("runtime": "local-docker"}])");
  }
  if (j.size() > 20) {
    fail("deploy", "at most 20 environments");
  }
  std::vector<environment_config> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string where = "deploy[" + std::to_string(i) + "]";
    environment_config e = parse_environment(j[i], where);
    if (std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.name == e.name; })) {
      fail(where + ".name", "\"" + e.name + "\" is given twice; environment names are unique");
    }
    out.push_back(std::move(e));
  }
  return out;
}

json to_json(const environment_config& e, bool include_secrets) {
  const auto amounts = [](const resource_amounts& a) {
    json j = json::object();
    if (!a.cpu.empty()) j["cpu"] = a.cpu;
    if (!a.memory.empty()) j["memory"] = a.memory;
    return j;
  };
  json j{{"name", e.name},
         {"runtime", e.runtime},
         {"replicas", e.replicas},
         {"resources",
          {{"requests", amounts(e.resources.requests)}, {"limits", amounts(e.resources.limits)}}},
         {"env", variables_json(e.env, false)},
         {"secret_env", variables_json(e.secret_env, !include_secrets)},
         {"port", e.port},
         {"host_port", e.host_port},
         {"auto_deploy", e.auto_deploy},
         {"auto_rollback", e.auto_rollback},
         {"allow_single_replica", e.allow_single_replica},
         {"restart_policy", e.restart_policy},
         {"deadline_s", e.deadline_s},
         {"health",
          {{"path", e.health.path},
           {"port", e.health.port},
           {"interval_s", e.health.interval_s},
           {"timeout_s", e.health.timeout_s},
           {"startup_s", e.health.startup_s}}}};
  if (!e.namespace_.empty()) {
    j["namespace"] = e.namespace_;
  }
  return j;
}

const environment_config* find_environment(const service_config& s, const std::string& name) {
  for (const auto& e : s.deploy) {
    if (e.name == name) {
      return &e;
    }
  }
  return nullptr;
}

}  // namespace kiwi
