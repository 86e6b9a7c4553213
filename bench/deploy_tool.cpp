// kiwi-deploy-tool: runs a deployer directly, for the deploy tests and benchmarks (no Redis, no
// worker in the way). Every file is read from disk: no secret goes on the command line.
//   kiwi-deploy-tool deploy --runtime RUNTIME.json --request REQUEST.json
//       Prints {"progress": {...}} lines while waiting, then one {"result": {...}} line.
//   kiwi-deploy-tool inspect --runtime RUNTIME.json --service S --env E
//       Prints one {"state": {...}} line.
//   kiwi-deploy-tool remove --runtime RUNTIME.json --service S --env E
//       Prints {"removed": true}.
// RUNTIME.json is a Docker runtime resource as in the config file (docs/configuration.md).
// REQUEST.json: {"service", "environment", "deployment_id", "revision", "image",
//   "env": {replicas, port, host_port, env: {}, secret_env: {}, resources: {limits: {cpu,
//   memory}}, restart_policy, deadline_s, health: {path, port, interval_s, timeout_s,
//   startup_s}}, "registry": a registry resource (optional)}.
// Exit status: 0 when the deploy succeeded (or inspect/remove ran), 1 when it failed, 2 on
// usage errors.

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config/resources.hpp"
#include "common/deploy/deployer.hpp"

using json = nlohmann::json;
using namespace kiwi;

namespace {

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::vector<std::pair<std::string, std::string>> pairs(const json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : j.items()) {
    out.emplace_back(k, v.get<std::string>());
  }
  return out;
}

// The fields of an environment this tool needs (the service config's `deploy` entries are
// parsed by common/config; this reads the same keys without presets or validation).
environment_config environment_of(const json& j) {
  environment_config e;
  e.name = j.value("name", "");
  e.replicas = j.value("replicas", 1U);
  e.port = j.value("port", 0U);
  e.host_port = j.value("host_port", 0U);
  e.env = pairs(j.value("env", json::object()));
  e.secret_env = pairs(j.value("secret_env", json::object()));
  const json limits = j.value("resources", json::object()).value("limits", json::object());
  e.resources.limits.cpu = limits.value("cpu", "");
  e.resources.limits.memory = limits.value("memory", "");
  e.restart_policy = j.value("restart_policy", e.restart_policy);
  e.deadline_s = j.value("deadline_s", e.deadline_s);
  const json h = j.value("health", json::object());
  e.health.path = h.value("path", "");
  e.health.port = h.value("port", 0U);
  e.health.interval_s = h.value("interval_s", e.health.interval_s);
  e.health.timeout_s = h.value("timeout_s", e.health.timeout_s);
  e.health.startup_s = h.value("startup_s", e.health.startup_s);
  return e;
}

json to_json(const deploy_progress& p) {
  return {{"ready", p.ready}, {"desired", p.desired}, {"message", p.message},
          {"diagnostic", p.diagnostic}};
}

json to_json(const deploy_result& r) {
  json j = {{"succeeded", r.succeeded},
            {"message", r.message},
            {"kind", r.kind == failure_kind::transient ? "transient" : "permanent"},
            {"diagnostics", r.diagnostics},
            {"log_tail", r.log_tail},
            {"url", r.url}};
  j["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
  return j;
}

json to_json(const deployment_state& s) {
  return {{"deployment_id", s.deployment_id}, {"image", s.image}, {"ready", s.ready},
          {"desired", s.desired}, {"instances", s.instances}, {"url", s.url}};
}

int usage() {
  std::cerr << "usage: kiwi-deploy-tool deploy --runtime FILE --request FILE\n"
               "       kiwi-deploy-tool inspect|remove --runtime FILE --service S --env E\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    return usage();
  }
  const std::string command = argv[1];
  std::string runtime_file, request_file, service, environment;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const std::string value = i + 1 < argc ? argv[++i] : "";
    if (a == "--runtime") runtime_file = value;
    else if (a == "--request") request_file = value;
    else if (a == "--service") service = value;
    else if (a == "--env") environment = value;
    else return usage();
  }
  if (runtime_file.empty()) {
    return usage();
  }
  try {
    const runtime_config runtime = parse_runtime(read_json(runtime_file), parse_context{});
    if (runtime.type != "docker") {
      throw std::runtime_error("runtime " + runtime.name + " is not of type docker");
    }
    // make_docker_deployer, not make_deployer: this tool links only the Docker runtime.
    auto d = make_docker_deployer(runtime, std::chrono::seconds(30));
    if (command == "deploy" && !request_file.empty()) {
      const json r = read_json(request_file);
      deploy_request rq;
      rq.service = r.at("service");
      rq.environment = r.at("environment");
      rq.deployment_id = r.at("deployment_id");
      rq.revision = r.value("revision", 1ULL);
      rq.image = r.at("image");
      rq.env = environment_of(r.value("env", json::object()));
      rq.env.name = rq.environment;
      if (r.contains("registry")) {
        rq.registry = parse_registry(r["registry"], parse_context{});
      }
      const deploy_result result = d->deploy(rq, [](const deploy_progress& p) {
        std::cout << json{{"progress", to_json(p)}}.dump() << std::endl;
      });
      std::cout << json{{"result", to_json(result)}}.dump() << std::endl;
      return result.succeeded ? 0 : 1;
    }
    if (service.empty() || environment.empty()) {
      return usage();
    }
    if (command == "inspect") {
      std::cout << json{{"state", to_json(d->inspect(service, environment))}}.dump() << std::endl;
      return 0;
    }
    if (command == "remove") {
      d->remove(service, environment);
      std::cout << json{{"removed", true}}.dump() << std::endl;
      return 0;
    }
    return usage();
  } catch (const field_error& e) {
    std::cerr << "kiwi-deploy-tool: " << e.field << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kiwi-deploy-tool: " << e.what() << "\n";
    return 1;
  }
}
