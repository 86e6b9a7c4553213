#pragma once
// The recorded real Kubernetes API objects of tests/fixtures/k8s/ (sources in
// tests/fixtures/README.md), for the Kaniko and deploy unit tests.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

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

}  // namespace kiwi::test
