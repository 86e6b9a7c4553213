// The Docker deployer's pure parts: Kubernetes quantities, the pull's stream and auth header,
// the container create body, the engine's inspect/list/log answers (recorded from podman 4.3's
// Docker API: tests/fixtures/docker) and the readiness verdicts. The deployer against a real
// podman is tests/integration/test_docker_deploy.py.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/base/quantity.hpp"
#include "common/deploy/docker_deployer.hpp"
#include "common/deploy/docker_readiness.hpp"
#include "common/deploy/docker_wire.hpp"
#include "common/security/crypto.hpp"
#include "test_process.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string fixture(const std::string& name) {
  return kiwi::test::read_file(fs::path(KIWI_FIXTURES_DIR) / "docker" / name);
}

}  // namespace

TEST_CASE("CPU quantities become NanoCpus") {
  CHECK(kiwi::cpu_nanos("500m") == 500000000);
  CHECK(kiwi::cpu_nanos("1.5") == 1500000000);
  CHECK(kiwi::cpu_nanos("2") == 2000000000);
  CHECK(kiwi::cpu_nanos("0.25") == 250000000);
  CHECK(kiwi::cpu_nanos("1e1") == 10000000000LL);
  CHECK_FALSE(kiwi::cpu_nanos(""));
  CHECK_FALSE(kiwi::cpu_nanos("half"));
  CHECK_FALSE(kiwi::cpu_nanos("-1"));
  CHECK_FALSE(kiwi::cpu_nanos("1.5 cores"));
  CHECK_FALSE(kiwi::cpu_nanos("0.0000000001"));  // finer than a nanocore
  CHECK_FALSE(kiwi::cpu_nanos("5000000"));       // more cores than any machine
}

TEST_CASE("memory quantities become bytes, binary and decimal suffixes apart") {
  CHECK(kiwi::memory_bytes("512Mi") == 512LL * 1024 * 1024);
  CHECK(kiwi::memory_bytes("1G") == 1000000000);
  CHECK(kiwi::memory_bytes("1Gi") == 1024LL * 1024 * 1024);
  CHECK(kiwi::memory_bytes("1.5Gi") == 1536LL * 1024 * 1024);
  CHECK(kiwi::memory_bytes("128974848") == 128974848);
  CHECK(kiwi::memory_bytes("129e6") == 129000000);
  CHECK(kiwi::memory_bytes("123M") == 123000000);
  CHECK(kiwi::memory_bytes("64k") == 64000);
  CHECK(kiwi::memory_bytes("0.5Ki") == 512);
  CHECK_FALSE(kiwi::memory_bytes("512MB"));
  CHECK_FALSE(kiwi::memory_bytes("Mi"));
  CHECK_FALSE(kiwi::memory_bytes("lots"));
  CHECK_FALSE(kiwi::memory_bytes("9Ei"));  // past 2^62
}

TEST_CASE("a failed pull is found inside the HTTP 200 stream; a good one has no error") {
  CHECK_FALSE(kiwi::pull_stream_error(fixture("pull_ok.jsonl")));
  const auto error = kiwi::pull_stream_error(fixture("pull_unauthorized.jsonl"));
  REQUIRE(error);
  CHECK(error->find("unauthorized: authentication required") != std::string::npos);
  CHECK(kiwi::pull_stream_error("{\"errorDetail\":{\"message\":\"no space left\"}}\n") ==
        "no space left");
  CHECK_FALSE(kiwi::pull_stream_error("not json\n\n"));
}

TEST_CASE("X-Registry-Auth is base64url JSON naming the registry's host and port") {
  kiwi::registry_config r;
  r.url = "http://127.0.0.1:5000/";
  r.username = "robot";
  r.password = "p+ss/word?>>";
  const std::string header = kiwi::registry_auth_header(r);
  CHECK(header.find_first_of("+/") == std::string::npos);
  std::string standard = header;
  for (char& c : standard) {
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  const auto decoded = kiwi::base64_decode(standard);
  REQUIRE(decoded);
  CHECK(json::parse(*decoded) ==
        json{{"username", "robot"}, {"password", "p+ss/word?>>"}, {"serveraddress", "127.0.0.1:5000"}});
}

TEST_CASE("a replica's create body: image, labels, env and secret env, limits, policy, port") {
  kiwi::deploy_request rq;
  rq.service = "shop";
  rq.environment = "staging";
  rq.deployment_id = "dep-1";
  rq.revision = 4;
  rq.env.env = {{"A", "1"}};
  rq.env.secret_env = {{"KEY", "s3cret"}};
  rq.env.resources.limits = {"250m", "1Gi"};
  rq.env.port = 8080;
  CHECK(kiwi::container_name(rq.service, rq.environment, rq.revision, 2) ==
        "kiwi-shop-staging-r4-2");
  kiwi::container_spec spec{"reg/shop@sha256:ab", kiwi::deploy_labels(rq, 2), &rq.env, 0};
  const json body = json::parse(kiwi::container_create_body(spec));
  CHECK(body["Image"] == "reg/shop@sha256:ab");
  CHECK(body["Labels"] == json{{"kiwi.service", "shop"}, {"kiwi.env", "staging"},
                               {"kiwi.deployment", "dep-1"}, {"kiwi.revision", "4"},
                               {"kiwi.replica", "2"}});
  CHECK(body["Env"] == json{"A=1", "KEY=s3cret"});
  CHECK(body["HostConfig"]["NanoCpus"] == 250000000);
  CHECK(body["HostConfig"]["Memory"] == 1073741824);
  CHECK(body["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped");
  CHECK(body["HostConfig"]["PortBindings"]["8080/tcp"] ==
        json::array({{{"HostIp", "127.0.0.1"}, {"HostPort", ""}}}));
  CHECK(body["ExposedPorts"].contains("8080/tcp"));
  spec.host_port = 18080;
  CHECK(json::parse(kiwi::container_create_body(spec))["HostConfig"]["PortBindings"]["8080/tcp"][0]
                   ["HostPort"] == "18080");
  // A limit that is no quantity names the field.
  rq.env.resources.limits.memory = "1 gig";
  CHECK_THROWS_WITH_AS(kiwi::container_create_body(spec),
                       doctest::Contains("resources.limits.memory \"1 gig\""), std::invalid_argument);
}

TEST_CASE("podman's inspect answers read as running, starting, healthy or exited") {
  const auto starting = kiwi::parse_container_state(fixture("inspect_starting.json"));
  REQUIRE(starting);
  CHECK(starting->running);
  CHECK(starting->has_healthcheck);
  CHECK(starting->health == "starting");
  CHECK(starting->host_ports.size() == 1);
  CHECK(starting->host_ports.count(8080) == 1);
  const auto healthy = kiwi::parse_container_state(fixture("inspect_healthy.json"));
  REQUIRE(healthy);
  CHECK(healthy->health == "healthy");
  const auto exited = kiwi::parse_container_state(fixture("inspect_exited.json"));
  REQUIRE(exited);
  CHECK_FALSE(exited->running);
  CHECK(exited->exit_code == 1);
  CHECK_FALSE(exited->has_healthcheck);
  CHECK_FALSE(kiwi::parse_container_state("{\"message\": \"no such container\"}"));
}

TEST_CASE("a container list gives names, labels and published ports, never Env") {
  const auto list = kiwi::parse_container_list(fixture("containers_list.json"));
  REQUIRE(list.size() == 2);
  for (const auto& c : list) {
    CHECK(c.name.starts_with("kiwi-shop-development-r"));
    CHECK(c.labels.at("kiwi.service") == "shop");
  }
}

TEST_CASE("multiplexed logs are split into lines; raw TTY text too; only the last N kept") {
  CHECK(kiwi::demux_log_lines(fixture("logs_multiplexed.bin"), 20) ==
        std::vector<std::string>{"starting with key not-a-secret", "boom"});
  CHECK(kiwi::demux_log_lines(fixture("logs_multiplexed.bin"), 1) ==
        std::vector<std::string>{"boom"});
  CHECK(kiwi::demux_log_lines("one\r\ntwo\nthree", 20) ==
        std::vector<std::string>{"one", "two", "three"});
  // A frame cut short keeps what arrived.
  const std::string frame("\x01\0\0\0\0\0\0\x10half", 12);
  CHECK(kiwi::demux_log_lines(frame, 20) == std::vector<std::string>{"half"});
}

TEST_CASE("readiness: exits and restarts fail, HEALTHCHECK or the replica's own check decides") {
  kiwi::container_state s;
  s.running = true;
  kiwi::replica_check check;
  CHECK(kiwi::judge_replica(s, check).phase == kiwi::replica_phase::starting);
  check.passed = true;
  CHECK(kiwi::judge_replica(s, check).phase == kiwi::replica_phase::ready);
  s.has_healthcheck = true;
  s.health = "unhealthy";
  s.health_output = "connection refused";
  const auto sick = kiwi::judge_replica(s, check);
  CHECK(sick.phase == kiwi::replica_phase::starting);
  CHECK(sick.detail == "HEALTHCHECK unhealthy: connection refused");
  s.health = "healthy";
  CHECK(kiwi::judge_replica(s, check).phase == kiwi::replica_phase::ready);
  s.restart_count = 2;
  const auto looping = kiwi::judge_replica(s, check);
  CHECK(looping.phase == kiwi::replica_phase::failed);
  CHECK(looping.detail == "keeps exiting: its restart policy restarted it 2 times");
  s = {};
  s.status = "exited";
  s.exit_code = 137;
  CHECK(kiwi::judge_replica(s, check).detail == "exited with code 137");
}

TEST_CASE("images deploy by digest only") {
  CHECK(kiwi::is_digest_reference("reg:5000/team/app@sha256:" + std::string(64, 'a')));
  CHECK_FALSE(kiwi::is_digest_reference("reg:5000/team/app:latest"));
  CHECK_FALSE(kiwi::is_digest_reference("@sha256:" + std::string(64, 'a')));
  CHECK_FALSE(kiwi::is_digest_reference("app@sha256:" + std::string(63, 'a')));
  CHECK_FALSE(kiwi::is_digest_reference("app@sha256:" + std::string(64, 'A')));
}
