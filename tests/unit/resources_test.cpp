// The resource schema shared by the config file and the API: each field's validation names the
// field and says what to fix; secrets never leave to_json unless asked for.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/config/config.hpp"
#include "common/config/resources.hpp"

using nlohmann::json;

namespace {

kiwi::parse_context api_context() {
  kiwi::parse_context ctx;
  ctx.webhook_secret_required = false;
  return ctx;
}

// The field_error a resource raises, as "field: message".
template <class Parse>
std::string error_of(Parse parse, const json& j) {
  try {
    parse(j, api_context());
  } catch (const kiwi::field_error& e) {
    return e.field + ": " + e.what();
  }
  return "";
}

json service(json extra = json::object()) {
  json j{{"name", "user-api"},
         {"git_url", "https://gitlab.com/company/user-api.git"},
         {"branch", "main"}};
  j.update(extra);
  return j;
}

}  // namespace

TEST_CASE("a service from the API: defaults, and every field's errors name it") {
  auto s = kiwi::parse_service(service(), api_context());
  CHECK(s.dockerfile.mode == "auto");
  CHECK(s.tag_rule == "${BRANCH}-${SHORT_SHA}");
  CHECK(s.build_runtime == "local");
  CHECK(s.max_concurrent_builds == 1);
  CHECK(s.webhook_secret.empty());  // the API generates one

  auto err = [](json extra) { return error_of(kiwi::parse_service, service(extra)); };
  CHECK(err({{"name", "User_API"}}).starts_with("name: "));
  CHECK(err({{"git_url", "https://github.com/org/repo"}}).find("ends with .git") !=
        std::string::npos);
  CHECK(err({{"git_url", "ftp://x/y.git"}}).starts_with("git_url: "));
  CHECK(err({{"branch", "refs/heads/main"}}).starts_with("branch: "));
  CHECK(err({{"token_file", "/etc/passwd"}}).starts_with("token_file: files are read only"));
  CHECK(err({{"ssh_key", "x"}}).starts_with("ssh_key: an SSH key needs an ssh://"));
  CHECK(err({{"git_url", "ssh://git@host/r.git"}, {"ssh_key", "not a key"}})
            .find("ed25519") != std::string::npos);
  CHECK(err({{"webhook_secret", "short"}}).starts_with("webhook_secret: "));
  CHECK(err({{"dockerfile", {{"mode", "path"}}}}).starts_with("dockerfile.path: is required"));
  CHECK(err({{"dockerfile", {{"mode", "path"}, {"path", "../Dockerfile"}}}})
            .starts_with("dockerfile.path: must stay inside"));
  CHECK(err({{"dockerfile", {{"mode", "path"}, {"path", "/etc/Dockerfile"}}}})
            .starts_with("dockerfile.path: must be a path relative"));
  CHECK(err({{"dockerfile", {{"mode", "wizard"}, {"language", "cobol"}}}})
            .starts_with("dockerfile.language: "));
  CHECK(err({{"dockerfile", {{"mode", "magic"}}}}).starts_with("dockerfile.mode: "));
  CHECK(err({{"registry", "harbor-main"}}).starts_with("image: is required"));
  CHECK(err({{"registry", "h"}, {"image", "Library/API"}}).starts_with("image: "));
  CHECK(err({{"tag_rule", "${BRANCH}-${COMMIT}"}}).find("unknown variable ${COMMIT}") !=
        std::string::npos);
  CHECK(err({{"tag_rule", "${BRANCH"}}).find("closing") != std::string::npos);
  CHECK(err({{"build_runtime", "Prod Cluster"}}).starts_with("build_runtime: "));
  CHECK(err({{"colour", "blue"}}).starts_with("colour: unknown key"));
  CHECK(kiwi::check_tag_rule("${SERVICE}-${BUILD_NUMBER}-${TIMESTAMP}-${SHA}-${TAG}").empty());

  auto wizard = kiwi::parse_service(
      service({{"dockerfile", {{"mode", "wizard"}, {"language", "node"}, {"framework", "express"}}}}),
      api_context());
  CHECK(wizard.dockerfile.framework == "express");
}

TEST_CASE("to_json masks secrets unless the store asks for them") {
  auto s = kiwi::parse_service(service({{"token", "glpat-secret"},
                                        {"webhook_secret", "0123456789abcdef-secret"}}),
                               api_context());
  json shown = kiwi::to_json(s);
  CHECK(shown["token"] == "***");
  CHECK(shown["webhook_secret"] == "***");
  CHECK(shown.dump().find("glpat") == std::string::npos);
  json stored = kiwi::to_json(s, true);
  CHECK(stored["token"] == "glpat-secret");
  // What the store writes parses back to the same service.
  auto again = kiwi::parse_service(stored, api_context());
  CHECK(again.token == s.token);
  CHECK(kiwi::to_json(again, true) == stored);
}

TEST_CASE("registries and runtimes") {
  auto r = kiwi::parse_registry(
      {{"name", "harbor-main"}, {"url", "harbor.company.com"}, {"username", "robot$ci"},
       {"password", "pw"}},
      api_context());
  CHECK(kiwi::to_json(r)["password"] == "***");
  CHECK(error_of(kiwi::parse_registry, {{"name", "h"}, {"url", "harbor.company.com/x"}})
            .starts_with("url: "));
  CHECK(error_of(kiwi::parse_registry, {{"name", "h"}, {"url", "docker.io"}, {"username", "u"}})
            .starts_with("password: give both"));

  auto k = kiwi::parse_runtime({{"name", "prod-cluster"}, {"type", "kubernetes"},
                                {"api_url", "https://10.0.0.1:6443"}, {"token", "sa-token"}},
                               api_context());
  CHECK(k.namespace_ == "default");
  CHECK(kiwi::to_json(k)["token"] == "***");
  CHECK(error_of(kiwi::parse_runtime, {{"name", "k"}, {"type", "kubernetes"},
                                       {"api_url", "http://x"}, {"token", "t"}})
            .starts_with("api_url: "));
  CHECK(error_of(kiwi::parse_runtime, {{"name", "local"}, {"type", "docker"},
                                       {"socket", "/run/docker.sock"}})
            .starts_with("name: "));
  CHECK(error_of(kiwi::parse_runtime, {{"name", "d"}, {"type", "docker"}}).starts_with("socket: "));
  CHECK(error_of(kiwi::parse_runtime, {{"name", "d"}, {"type", "lxc"}}).starts_with("type: "));
  auto d = kiwi::parse_runtime({{"name", "local-podman"}, {"type", "docker"},
                                {"socket", "/run/podman/podman.sock"}},
                               api_context());
  CHECK(kiwi::to_json(d)["socket"] == "/run/podman/podman.sock");
}

TEST_CASE("a kubernetes runtime's kaniko settings: defaults, quantities, unknown keys") {
  const json base = {{"name", "prod-cluster"}, {"type", "kubernetes"},
                     {"api_url", "https://10.0.0.1:6443"}, {"token", "sa-token"}};
  auto k = kiwi::parse_runtime(base, api_context());
  CHECK(k.kaniko.image.starts_with("ghcr.io/osscontainertools/kaniko:v"));
  CHECK(k.kaniko.cache);
  CHECK(kiwi::to_json(k)["kaniko"]["memory_limit"] == "4Gi");

  json custom = base;
  custom["kaniko"] = {{"image", "registry.local/kaniko:v1.28.0"}, {"cpu_request", "250m"},
                      {"memory_limit", "1.5Gi"}, {"cpu_limit", ""},
                      {"service_account", "kiwi-builder"}, {"pending_timeout_s", 60},
                      {"cache", false}};
  auto c = kiwi::parse_runtime(custom, api_context());
  CHECK(c.kaniko.image == "registry.local/kaniko:v1.28.0");
  CHECK(c.kaniko.cpu_request == "250m");
  CHECK(c.kaniko.memory_limit == "1.5Gi");
  CHECK(c.kaniko.cpu_limit.empty());
  CHECK(c.kaniko.pending_timeout_s == 60);
  CHECK_FALSE(c.kaniko.cache);
  // What the API stores comes back the same.
  CHECK(kiwi::parse_runtime(kiwi::to_json(c, true), api_context()).kaniko.memory_limit == "1.5Gi");

  auto with = [&](const json& kaniko) {
    json j = base;
    j["kaniko"] = kaniko;
    return j;
  };
  CHECK(error_of(kiwi::parse_runtime, with({{"memory_limit", "4 GB"}}))
            .starts_with("kaniko.memory_limit: \"4 GB\" is not a Kubernetes quantity"));
  CHECK(error_of(kiwi::parse_runtime, with({{"cpu_request", ""}})).starts_with("kaniko.cpu_request: "));
  CHECK(error_of(kiwi::parse_runtime, with({{"image", "a b"}})).starts_with("kaniko.image: "));
  CHECK(error_of(kiwi::parse_runtime, with({{"imagee", "x"}})).find("imagee") != std::string::npos);
  CHECK(error_of(kiwi::parse_runtime, with({{"service_account", "Bad_Name"}}))
            .starts_with("kaniko.service_account: "));
  CHECK(error_of(kiwi::parse_runtime, with(json("x"))).starts_with("kaniko: "));
}

TEST_CASE("the config file declares registries and runtimes, and services must name real ones") {
  const std::string base = R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi",)";
  const std::string svc = R"("name":"user-api","git_url":"https://gitlab.com/c/u.git",)"
                          R"("branch":"main","webhook_secret":"0123456789abcdef")";
  auto c = kiwi::parse_config(
      base + R"("registries":[{"name":"harbor-main","url":"harbor.company.com"}],)"
             R"("runtimes":[{"name":"prod","type":"kubernetes","api_url":"https://k:6443",)"
             R"("token":"t"}],"services":[{)" +
          svc + R"(,"registry":"harbor-main","image":"library/user-api","build_runtime":"prod"}]})",
      "/tmp");
  REQUIRE(c.find_registry("harbor-main") != nullptr);
  CHECK(c.find_runtime("prod")->type == "kubernetes");
  CHECK(c.services[0].read_only);
  auto error = [&](const std::string& extra) {
    try {
      kiwi::parse_config(base + R"("services":[{)" + svc + extra + "}]}", "/tmp");
    } catch (const kiwi::config_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error(R"(,"registry":"nope","image":"x")").find("services[user-api].registry") !=
        std::string::npos);
  CHECK(error(R"(,"build_runtime":"nope")").find("services[user-api].build_runtime") !=
        std::string::npos);
  CHECK(error(R"(,"dockerfile":{"mode":"path"})").find("services[user-api].dockerfile.path") !=
        std::string::npos);
}
