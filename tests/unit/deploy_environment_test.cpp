// A service's deploy environments: presets fill what is not given, validation names the field,
// the JSON form never shows secret_env, the config file checks runtimes, and the resource store
// seals secret_env values at rest.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/config/config.hpp"
#include "common/config/deploy_environment.hpp"
#include "common/redis/redis_keys.hpp"
#include "common/store/resource_store.hpp"
#include "daemon/kept_secrets.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json service_json(json deploy) {
  return {{"name", "user-api"},
          {"git_url", "https://gitlab.com/company/user-api.git"},
          {"branch", "main"},
          {"webhook_secret", "hook-SECRET-0123456789"},
          {"registry", "harbor-main"},
          {"image", "team/user-api"},
          {"deploy", std::move(deploy)}};
}

kiwi::service_config parse(json deploy) {
  return kiwi::parse_service(service_json(std::move(deploy)), kiwi::parse_context{});
}

// The field and message of the error parsing `deploy` throws.
std::pair<std::string, std::string> error_of(json deploy) {
  try {
    parse(std::move(deploy));
  } catch (const kiwi::field_error& e) {
    return {e.field, e.what()};
  }
  return {"", "no error"};
}

}  // namespace

TEST_CASE("deploy presets fill what an environment does not give") {
  const auto s = parse(json::array({{{"name", "development"}, {"runtime", "local-docker"}},
                                    {{"name", "staging"}, {"runtime", "k8s"}},
                                    {{"name", "production"}, {"runtime", "k8s"}, {"replicas", 3}},
                                    {{"name", "qa-eu"}, {"runtime", "k8s"}}}));
  REQUIRE(s.deploy.size() == 4);
  const auto& dev = s.deploy[0];
  CHECK(dev.replicas == 1);
  CHECK(dev.auto_deploy);
  CHECK_FALSE(dev.auto_rollback);
  CHECK(dev.resources.requests.cpu == "50m");
  CHECK(dev.resources.requests.memory == "64Mi");
  const auto& staging = s.deploy[1];
  CHECK(staging.replicas == 2);  // like production
  CHECK(staging.auto_rollback);
  CHECK_FALSE(staging.auto_deploy);
  const auto& prod = s.deploy[2];
  CHECK(prod.replicas == 3);
  CHECK(prod.auto_rollback);
  CHECK_FALSE(prod.auto_deploy);
  CHECK(prod.resources.requests.cpu == "250m");
  const auto& custom = s.deploy[3];
  CHECK(custom.replicas == 1);
  CHECK_FALSE(custom.auto_deploy);
  CHECK(kiwi::find_environment(s, "qa-eu") == &custom);
  CHECK(kiwi::find_environment(s, "nope") == nullptr);
}

TEST_CASE("given fields override the preset") {
  const auto s = parse(json::array({{{"name", "development"},
                                     {"runtime", "local-docker"},
                                     {"auto_deploy", false},
                                     {"port", 8080},
                                     {"host_port", 18080},
                                     {"env", {{"LOG_LEVEL", "debug"}}},
                                     {"secret_env", {{"DB_PASSWORD", "s3cret-value"}}},
                                     {"resources", {{"limits", {{"cpu", "1"}, {"memory", "512Mi"}}}}},
                                     {"health", {{"path", "/healthz"}}},
                                     {"restart_policy", "always"},
                                     {"deadline_s", 60}}}));
  const auto& e = s.deploy[0];
  CHECK_FALSE(e.auto_deploy);
  CHECK(e.port == 8080);
  CHECK(e.host_port == 18080);
  CHECK(e.env == std::vector<std::pair<std::string, std::string>>{{"LOG_LEVEL", "debug"}});
  CHECK(e.secret_env[0].second == "s3cret-value");
  CHECK(e.resources.requests.cpu == "50m");  // the preset's requests stay
  CHECK(e.resources.limits.memory == "512Mi");
  CHECK(e.health.path == "/healthz");
  CHECK(e.restart_policy == "always");
  CHECK(e.deadline_s == 60);
}

TEST_CASE("production with one replica is refused unless allowed") {
  auto [field, message] =
      error_of(json::array({{{"name", "production"}, {"runtime", "k8s"}, {"replicas", 1}}}));
  CHECK(field == "deploy[0].replicas");
  CHECK(message.find("allow_single_replica") != std::string::npos);
  const auto s = parse(json::array({{{"name", "production"},
                                     {"runtime", "k8s"},
                                     {"replicas", 1},
                                     {"allow_single_replica", true}}}));
  CHECK(s.deploy[0].replicas == 1);
}

TEST_CASE("deploy validation names the field to fix") {
  const json dev{{"name", "development"}, {"runtime", "local-docker"}};
  auto with = [&](const char* key, json value) {
    json e = dev;
    e[key] = std::move(value);
    return json::array({{{"name", "qa"}, {"runtime", "d"}}, e});
  };
  CHECK(error_of(with("replicas", 0)).first == "deploy[1].replicas");
  CHECK(error_of(with("name", "Prod_1")).first == "deploy[1].name");
  CHECK(error_of(with("runtime", "")).first == "deploy[1].runtime");
  CHECK(error_of(with("colour", "blue")).first == "deploy[1].colour");
  CHECK(error_of(with("env", {{"1BAD", "x"}})).first == "deploy[1].env.1BAD");
  CHECK(error_of(with("env", {{"PORT", 80}})).first == "deploy[1].env.PORT");
  CHECK(error_of(with("resources", {{"requests", {{"cpu", "lots"}}}})).first ==
        "deploy[1].resources.requests.cpu");
  CHECK(error_of(with("health", {{"path", "healthz"}})).first == "deploy[1].health.path");
  CHECK(error_of(with("restart_policy", "sometimes")).first == "deploy[1].restart_policy");
  CHECK(error_of(with("host_port", 8080)).first == "deploy[1].host_port");
  json both = dev;
  both["env"] = {{"TOKEN", "a"}};
  both["secret_env"] = {{"TOKEN", "b"}};
  CHECK(error_of(json::array({both})).first == "deploy[0].secret_env.TOKEN");
  CHECK(error_of(json::array({dev, dev})).first == "deploy[1].name");
  CHECK(error_of(json{{"name", "development"}}).first == "deploy");
  CHECK(error_of(json::array({{{"name", "development"}}})).first == "deploy[0].runtime");
  // A deploy pulls from the service's registry.
  json no_registry = service_json(json::array({dev}));
  no_registry.erase("registry");
  no_registry.erase("image");
  CHECK_THROWS_WITH_AS(kiwi::parse_service(no_registry, kiwi::parse_context{}),
                       doctest::Contains("registry"), kiwi::field_error);
}

TEST_CASE("the JSON form shows every field and hides secret_env, and parses back the same") {
  const auto s = parse(json::array({{{"name", "development"},
                                     {"runtime", "local-docker"},
                                     {"secret_env", {{"DB_PASSWORD", "s3cret-value"}}}}}));
  const json shown = kiwi::to_json(s);
  CHECK(shown["deploy"][0]["secret_env"]["DB_PASSWORD"] == "***");
  CHECK(shown["deploy"][0]["replicas"] == 1);
  CHECK(shown["deploy"][0]["auto_deploy"] == true);
  CHECK(shown.dump().find("s3cret-value") == std::string::npos);
  const json full = kiwi::to_json(s, true);
  const auto again = kiwi::parse_service(full, kiwi::parse_context{});
  CHECK(kiwi::to_json(again, true) == full);
}

TEST_CASE("the config file refuses an environment on an unknown runtime") {
  json config{{"redis", "unix:///tmp/r.sock"},
              {"data_dir", "/tmp/kiwi"},
              {"registries", json::array({{{"name", "harbor-main"}, {"url", "harbor.local"}}})},
              {"runtimes", json::array({{{"name", "local-docker"},
                                         {"type", "docker"},
                                         {"socket", "/run/podman/podman.sock"}}})},
              {"services", json::array({service_json(json::array(
                               {{{"name", "development"}, {"runtime", "elsewhere"}}}))})}};
  CHECK_THROWS_WITH_AS(kiwi::parse_config(config.dump(), "/tmp"),
                       doctest::Contains("services[user-api].deploy[0].runtime"),
                       kiwi::config_error);
  config["services"][0]["deploy"][0]["runtime"] = "local-docker";
  CHECK(kiwi::parse_config(config.dump(), "/tmp").services[0].deploy[0].runtime ==
        "local-docker");
}

TEST_CASE("an update sending *** keeps the stored secret_env value on the same runtime") {
  const auto stored = parse(json::array({{{"name", "development"},
                                          {"runtime", "local-docker"},
                                          {"secret_env", {{"DB_PASSWORD", "s3cret-value"}}}}}));
  json body = kiwi::to_json(stored);
  kiwi::keep_secrets(body, stored);
  CHECK(body["deploy"][0]["secret_env"]["DB_PASSWORD"] == "s3cret-value");
  json moved = kiwi::to_json(stored);
  moved["deploy"][0]["runtime"] = "other-docker";
  CHECK_THROWS_WITH_AS(kiwi::keep_secrets(moved, stored), doctest::Contains("runtime changed"),
                       kiwi::field_error);
  json unknown = kiwi::to_json(stored);
  unknown["deploy"][0]["secret_env"]["API_KEY"] = "***";
  CHECK_THROWS_AS(kiwi::keep_secrets(unknown, stored), kiwi::field_error);
}

TEST_CASE("the resource store seals secret_env values at rest") {
  kiwi::test::redis_fixture f;
  kiwi::secret_box box(std::string(32, 'k'));
  kiwi::resource_store store(f.redis, &box, 2s);
  const auto s = parse(json::array({{{"name", "development"},
                                     {"runtime", "local-docker"},
                                     {"secret_env", {{"DB_PASSWORD", "s3cret-value"}}}}}));
  CHECK(f.run(store.put(s, true)).second);
  const std::string raw =
      f.command(kiwi::redis_args("HGET", kiwi::keys::resources("services"), "user-api")).str;
  CHECK(raw.find("s3cret-value") == std::string::npos);
  CHECK(raw.find("kiwi-secret:v1:") != std::string::npos);
  auto [ec, back] = f.run(store.service("user-api"));
  REQUIRE(back);
  CHECK(back->deploy[0].secret_env[0].second == "s3cret-value");
  // Re-encryption under a new key covers them too.
  kiwi::secret_box next(std::string(32, 'n'));
  kiwi::resource_store rekeyed(f.redis, &next, 2s);
  CHECK(f.run(rekeyed.reseal_all(box)).second >= 2);  // webhook_secret and DB_PASSWORD
  auto [ec2, again] = f.run(rekeyed.service("user-api"));
  REQUIRE(again);
  CHECK(again->deploy[0].secret_env[0].second == "s3cret-value");
}
