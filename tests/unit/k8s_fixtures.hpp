#pragma once
// The recorded real Kubernetes API objects of tests/fixtures/k8s/ (sources in
// tests/fixtures/README.md), for the Kaniko and deploy unit tests, and a deploy request.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/deploy/deployer.hpp"

namespace kiwi::test {

inline nlohmann::json k8s_fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(KIWI_FIXTURES_DIR) / "k8s" / name, std::ios::binary);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// A status-only recording ({"status": ...} or the .status object itself) as a Pod named `pod`.
inline nlohmann::json k8s_pod_with_status(const std::string& name, const std::string& pod = "p") {
  nlohmann::json j = k8s_fixture(name);
  return j.contains("status")
             ? nlohmann::json{{"metadata", {{"name", pod}}}, {"status", j["status"]}}
             : nlohmann::json{{"metadata", {{"name", pod}}}, {"status", j}};
}

// A revision of `service` to its production environment on port 8080, with one env value, one
// secret_env value and a registry login, for the deploy tests.
inline deploy_request k8s_deploy_request(const std::string& service, const std::string& image,
                                         const std::string& secret_value,
                                         const std::string& registry_password) {
  deploy_request r;
  r.service = service;
  r.environment = r.env.name = "production";
  r.deployment_id = "01JD3ZK8X7Q9V5R2M4N6P8T0WA";
  r.revision = 3;
  r.image = image;
  r.env.port = 8080;
  r.env.env = {{"LOG_LEVEL", "info"}};
  r.env.secret_env = {{"DB_PASSWORD", secret_value}};
  r.registry = registry_config{"team", "registry.example.com", "robot", registry_password};
  return r;
}

}  // namespace kiwi::test
