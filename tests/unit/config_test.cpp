#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "common/config/config.hpp"

using kiwi::config_error;
using kiwi::parse_config;

namespace {

const std::filesystem::path base = "/tmp";

std::string with_service(const std::string& service_fields) {
  return R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi","services":[{)" +
         service_fields + "}]}";
}

const std::string good_service =
    R"("name":"user-api","git_url":"https://gitlab.com/company/user-api.git",)"
    R"("branch":"main","webhook_secret":"0123456789abcdef")";

std::string error_of(const std::string& json) {
  try {
    parse_config(json, base);
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a minimal config gets the documented defaults") {
  auto c = parse_config(with_service(good_service), base);
  CHECK(c.listen_host == "127.0.0.1");
  CHECK(c.listen_port == 8080);
  CHECK(c.redis.unix_path == "/tmp/r.sock");
  CHECK(c.max_body_bytes == 2 * 1024 * 1024);  // webhooks; a push is rarely over 1 MB
  CHECK(c.http.max_api_body_bytes == 256 * 1024);
  CHECK(c.http.max_buffered_body_bytes == 64 * 1024 * 1024);
  CHECK(c.http.max_connections_per_client == 512);  // a quarter of http.max_connections
  CHECK(c.http.max_event_streams_per_client == 32);
  CHECK(c.worker.concurrency == 4);
  REQUIRE(c.services.size() == 1);
  CHECK(c.services[0].git_username == "oauth2");
  CHECK_FALSE(c.services[0].build_tags);
  CHECK(c.find_service("user-api") != nullptr);
  CHECK(c.find_service("other") == nullptr);
}

TEST_CASE("redis URLs: unix socket and host:port/db") {
  auto ep = kiwi::parse_redis_url("redis://10.0.0.5:6380/3");
  CHECK(ep.host == "10.0.0.5");
  CHECK(ep.port == 6380);
  CHECK(ep.db == 3);
  CHECK(kiwi::parse_redis_url("redis://localhost").port == 6379);
  CHECK_THROWS_AS(kiwi::parse_redis_url("http://localhost:6379"), config_error);
  CHECK_THROWS_AS(kiwi::parse_redis_url("redis://localhost:99999"), config_error);
  CHECK_THROWS_AS(kiwi::parse_redis_url("unix://relative.sock"), config_error);
}

TEST_CASE("service names must be DNS-1123 labels") {
  CHECK(kiwi::is_dns1123_label("user-api"));
  CHECK(kiwi::is_dns1123_label("payment-service"));
  CHECK(kiwi::is_dns1123_label("a1"));
  CHECK_FALSE(kiwi::is_dns1123_label("User-Api"));
  CHECK_FALSE(kiwi::is_dns1123_label("-api"));
  CHECK_FALSE(kiwi::is_dns1123_label("api-"));
  CHECK_FALSE(kiwi::is_dns1123_label("user_api"));
  CHECK_FALSE(kiwi::is_dns1123_label(std::string(64, 'a')));
  CHECK_FALSE(kiwi::is_dns1123_label(""));
  // The error names the key and says what a valid name looks like.
  auto e = error_of(with_service(R"("name":"User_API","git_url":"https://x/y.git",)"
                                 R"("branch":"main","webhook_secret":"0123456789abcdef")"));
  CHECK(e.find("services[0].name") != std::string::npos);
  CHECK(e.find("DNS-1123") != std::string::npos);
}

TEST_CASE("invalid configs name the key and the problem") {
  // Missing required keys.
  CHECK(error_of(R"({"data_dir":"/tmp"})").find("\"redis\": is required") != std::string::npos);
  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock"})").find("\"data_dir\": is required") !=
        std::string::npos);
  // A typo is not silently ignored.
  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp","max_body_byte":5})")
            .find("max_body_byte") != std::string::npos);
  // Wrong types and ranges.
  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp","worker":{"concurrency":0}})")
            .find("worker.concurrency") != std::string::npos);
  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp","listen":"8080"})")
            .find("\"listen\"") != std::string::npos);
  CHECK(error_of("{not json").find("not valid JSON") != std::string::npos);
  // Service problems name the service.
  CHECK(error_of(with_service(good_service + R"(,"token":"a","token_file":"/x")"))
            .find("either") != std::string::npos);
  CHECK(error_of(with_service(R"("name":"a","git_url":"ftp://x/y.git","branch":"main",)"
                              R"("webhook_secret":"0123456789abcdef")"))
            .find("services[a].git_url") != std::string::npos);
  CHECK(error_of(with_service(R"("name":"a","git_url":"https://x/y.git","branch":"main",)"
                              R"("webhook_secret":"short")"))
            .find("services[a].webhook_secret") != std::string::npos);
  CHECK(error_of(with_service(R"("name":"a","git_url":"https://x/y.git","branch":"main")"))
            .find("services[a].webhook_secret\": is required") != std::string::npos);
  CHECK(error_of(with_service(good_service + R"(,"build_tags":"yes")"))
            .find("build_tags\": must be true or false") != std::string::npos);
}

TEST_CASE("retention: defaults, values, and errors naming the key") {
  auto c = parse_config(with_service(good_service), base);
  CHECK(c.retention.builds_per_service == 200);
  CHECK(c.retention.max_age_days == 90);
  const std::string top = R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp","retention":)";
  c = parse_config(top + R"({"builds_per_service":50,"max_age_days":0}})", base);
  CHECK(c.retention.builds_per_service == 50);
  CHECK(c.retention.max_age_days == 0);
  CHECK(error_of(top + R"({"builds_per_service":"many"}})")
            .find("\"retention.builds_per_service\"") != std::string::npos);
  CHECK(error_of(top + R"({"max_age_days":-1}})").find("\"retention.max_age_days\"") !=
        std::string::npos);
  CHECK(error_of(top + R"({"keep":5}})").find("retention.keep") != std::string::npos);
  CHECK(error_of(top + R"(200})").find("\"retention\": must be an object") != std::string::npos);
  // Both rules off would remove every finished build.
  CHECK(error_of(top + R"({"builds_per_service":0,"max_age_days":0}})")
            .find("every finished build would be removed") != std::string::npos);
}

TEST_CASE("a token is read from token_file and never echoed in errors") {
  auto dir = std::filesystem::temp_directory_path() / "kiwi-config-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tok") << "glpat-SECRET-123\n";
  auto c = parse_config(with_service(good_service + R"(,"token_file":"tok")"), dir);
  CHECK(c.services[0].token == "glpat-SECRET-123");
  auto e = error_of(with_service(good_service + R"(,"token":"glpat-SECRET-123","token_file":"x")"));
  CHECK(e.find("glpat-SECRET-123") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("GitHub URLs default to the x-access-token user") {
  auto c = parse_config(
      with_service(R"("name":"a","git_url":"https://github.com/o/r.git","branch":"main",)"
                   R"("webhook_secret":"0123456789abcdef")"),
      base);
  CHECK(c.services[0].git_username == "x-access-token");
}

TEST_CASE("queue and scheduling settings: defaults, values and errors") {
  auto c = parse_config(with_service(good_service), base);
  CHECK(c.queue.visibility_timeout == std::chrono::milliseconds(60'000));
  CHECK(c.queue.max_attempts == 3);
  CHECK(c.worker.drain_timeout == std::chrono::milliseconds(30'000));
  CHECK(c.services[0].cancel_superseded);
  CHECK(c.services[0].max_concurrent_builds == 1);

  auto d = parse_config(
      R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi",)"
      R"("queue":{"visibility_timeout_ms":2000,"max_attempts":5,"retry_base_ms":100,)"
      R"("retry_max_ms":1000},"worker":{"drain_timeout_ms":500},"services":[{)" +
          good_service + R"(,"cancel_superseded":false,"max_concurrent_builds":3}]})",
      base);
  CHECK(d.queue.visibility_timeout == std::chrono::milliseconds(2000));
  CHECK(d.queue.max_attempts == 5);
  CHECK(d.queue.retry_base == std::chrono::milliseconds(100));
  CHECK(d.worker.drain_timeout == std::chrono::milliseconds(500));
  CHECK_FALSE(d.services[0].cancel_superseded);
  CHECK(d.services[0].max_concurrent_builds == 3);

  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp","queue":{"max_attempts":0}})")
            .find("queue.max_attempts") != std::string::npos);
  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp","queue":{"retry":1}})")
            .find("queue.retry") != std::string::npos);
  CHECK(error_of(R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp",)"
                 R"("queue":{"retry_base_ms":5000,"retry_max_ms":1000}})")
            .find("queue.retry_max_ms") != std::string::npos);
  CHECK(error_of(with_service(good_service + R"(,"max_concurrent_builds":0)"))
            .find("services[user-api].max_concurrent_builds") != std::string::npos);
}

// build.network: isolated by default; host only when asked for; the subnet checked.
TEST_CASE("build.network and build.subnet: the isolated default, the choices, the errors") {
  const std::string head = R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi",)";
  auto defaults = parse_config(head + R"("services":[]})", base);
  CHECK(defaults.build.network == "isolated");
  CHECK(defaults.build.subnet == "10.231.0.0/24");
  for (const char* mode : {"isolated", "none", "host"}) {
    auto c = parse_config(head + R"("build":{"network":")" + mode + R"("}})", base);
    CHECK(c.build.network == mode);
  }
  auto c = parse_config(head + R"("build":{"subnet":"192.168.77.0/28"}})", base);
  CHECK(c.build.subnet == "192.168.77.0/28");

  auto error = [&](const std::string& build) {
    return error_of(head + R"("build":)" + build + "}");
  };
  CHECK(error(R"({"network":"private"})").starts_with(
      "config key \"build.network\": must be isolated (the default), none, or host"));
  CHECK(error(R"({"network":true})").starts_with("config key \"build.network\""));
  for (const char* bad : {"10.231.0.1/24", "8.8.8.0/24", "10.0.0.0/8", "10.231.0.0/30",
                          "10.231.0.0", "10.231.0.0/24 ", "fd00::/64", "10.256.0.0/16"}) {
    CAPTURE(bad);
    CHECK(error(std::string(R"({"subnet":")") + bad + "\"}").starts_with(
        "config key \"build.subnet\": must be a private IPv4 subnet"));
  }
}

TEST_CASE("build.wizard_images overrides the wizard's base images key by key") {
  const std::string head = R"({"redis":"unix:///tmp/r.sock","data_dir":"/tmp/kiwi",)";
  // Absent: the defaults of common/build/dockerfile.hpp.
  auto defaults = parse_config(head + R"("services":[]})", base);
  CHECK(defaults.build.wizard_images.node == kiwi::wizard_images{}.node);
  CHECK(defaults.build.wizard_images.go_runtime == kiwi::wizard_images{}.go_runtime);

  const std::string pinned = "node:20.18-bookworm-slim@sha256:" + std::string(64, 'f');
  auto c = parse_config(head + R"("build":{"wizard_images":{"node":")" + pinned +
                            R"(","go_runtime":"registry.local/distroless/static:nonroot"}}})",
                        base);
  CHECK(c.build.wizard_images.node == pinned);
  CHECK(c.build.wizard_images.go_runtime == "registry.local/distroless/static:nonroot");
  CHECK(c.build.wizard_images.python == kiwi::wizard_images{}.python);  // the rest stay

  auto error = [&](const std::string& build) {
    return error_of(head + R"("build":)" + build + "}");
  };
  CHECK(error(R"({"wizard_images":{"nodejs":"node:20"}})") ==
        "config key \"build.wizard_images.nodejs\": unknown key; the wizard's images are node, "
        "python, maven, gradle, java_runtime, go and go_runtime (docs/build.md)");
  CHECK(error(R"({"wizard_images":{"python":"python:3.12 slim"}})")
            .starts_with("config key \"build.wizard_images.python\": must be one image reference "
                         "without spaces"));
  CHECK(error(R"({"wizard_images":{"go":""}})")
            .starts_with("config key \"build.wizard_images.go\": must be one image reference"));
  CHECK(error(R"({"wizard_images":{"maven":"maven:3\n"}})")
            .starts_with("config key \"build.wizard_images.maven\""));
  CHECK(error(R"({"wizard_images":{"gradle":7}})") ==
        "config key \"build.wizard_images.gradle\": must be a string: one image reference");
  CHECK(error(R"({"wizard_images":["node:20"]})").starts_with(
      "config key \"build.wizard_images\": must be an object"));
  CHECK(error(R"({"images":{}})") ==
        "config key \"build.images\": unknown key; see docs/configuration.md");
  CHECK(error(R"("fast")") == "config key \"build\": must be an object");
}
