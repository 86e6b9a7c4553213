// Runtime "test": Docker against a real podman Docker-API service on a unix socket; Kubernetes
// against tests/support/k8s_stub.py (no API server can run here), which serves the recorded
// /version and Status objects over https with a self-signed certificate.

#include <doctest/doctest.h>

#include "common/deploy/docker_engine.hpp"
#include "daemon/runtime_probe.hpp"
#include "probe_servers.hpp"

namespace fs = std::filesystem;
namespace test = kiwi::test;
using namespace std::chrono_literals;

namespace {

const std::string sa_token = "UNIQUE-k8s-sa-token-2c6e0d";
const std::string forbidden_token = "UNIQUE-k8s-forbidden-token-91ab";

kiwi::runtime_config kubernetes(const std::string& url, const std::string& ca,
                                const std::string& token) {
  kiwi::runtime_config r;
  r.name = "test-k8s";
  r.type = "kubernetes";
  r.api_url = url;
  r.ca_cert = ca;
  r.token = token;
  return r;
}

kiwi::runtime_config docker_socket(const std::string& socket) {
  kiwi::runtime_config r;
  r.name = "test-docker";
  r.type = "docker";
  r.socket = socket;
  return r;
}

}  // namespace

TEST_CASE("the recorded /version of Kubernetes v1.32.3 reads as such") {
  const std::string body = test::read_file(fs::path(KIWI_FIXTURES_DIR) / "k8s" / "version.json");
  CHECK(kiwi::kubernetes_version_summary(body) == "Kubernetes v1.32.3 (linux/arm64)");
  CHECK(kiwi::kubernetes_version_summary(R"({"kind":"Status"})").empty());
}

TEST_CASE("Docker endpoints: the socket, tcp:// as http, or https when TLS material is set") {
  CHECK(kiwi::docker_endpoint_url(docker_socket("/run/docker.sock")) == "unix:///run/docker.sock");
  kiwi::runtime_config tcp;
  tcp.type = "docker";
  tcp.url = "tcp://10.0.0.5:2375";
  CHECK(kiwi::docker_endpoint_url(tcp) == "http://10.0.0.5:2375");
  tcp.tls_ca_cert = "-----BEGIN CERTIFICATE-----";
  CHECK(kiwi::docker_endpoint_url(tcp) == "https://10.0.0.5:2375");
}

TEST_CASE("Kubernetes: the stub API server with the right token, a wrong one, a forbidden one") {
  test::temp_dir dir("kiwi-k8s");
  const test::self_signed cert(dir.path() / "tls", "k8s-stub");
  test::k8s_stub api(dir.path() / "stub", cert, sa_token, forbidden_token, {"--kaniko-cluster"});

  // The right token and the cluster's CA: the recorded version, and a Kaniko build's Secret
  // and Job pass a dry run.
  const auto good = kiwi::probe_runtime(kubernetes(api.url(), cert.cert_pem(), sa_token));
  REQUIRE_MESSAGE(good.ok, good.message);
  CHECK(good.message == "Kubernetes v1.32.3 (linux/arm64); Kaniko builds: ready");
  CHECK(api.requests().find(R"("path": "/apis/batch/v1/namespaces/default/jobs", "query": {"dryRun": ["All"]}, "auth": "valid")") !=
        std::string::npos);
  // The stub saw one GET /version with the valid token.
  CHECK(api.requests().find(R"("path": "/version", "query": {}, "auth": "valid")") !=
        std::string::npos);

  // A wrong token: the API's 401 becomes the token message, without the token.
  const auto wrong = kiwi::probe_runtime(kubernetes(api.url(), cert.cert_pem(), "wrong-" + sa_token));
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.error_kind == "authentication");
  CHECK(wrong.message == kiwi::kubernetes_token_rejected_message);

  // A token the API refuses: the recorded Status message is passed on.
  const auto forbidden =
      kiwi::probe_runtime(kubernetes(api.url(), cert.cert_pem(), forbidden_token));
  CHECK_FALSE(forbidden.ok);
  CHECK(forbidden.error_kind == "forbidden");
  CHECK(forbidden.message.find("pods is forbidden: User \"system:serviceaccount:bluezero:default\"") !=
        std::string::npos);
  CHECK(forbidden.message.find(forbidden_token) == std::string::npos);

  // Another CA: the certificate is not trusted, and the message says to check ca_file.
  const test::self_signed other(dir.path() / "other", "other-ca");
  const auto untrusted = kiwi::probe_runtime(kubernetes(api.url(), other.cert_pem(), sa_token));
  CHECK_FALSE(untrusted.ok);
  CHECK(untrusted.error_kind == "certificate");
  CHECK(untrusted.message.find("certificate") != std::string::npos);
  CHECK(untrusted.message.find("check ca_file") != std::string::npos);
  CHECK(untrusted.message.find(sa_token) == std::string::npos);
}

TEST_CASE("Kubernetes: a service account that may not run builds is told what to grant") {
  test::temp_dir dir("kiwi-k8s");
  const test::self_signed cert(dir.path() / "tls", "k8s-stub");
  test::k8s_stub api(dir.path() / "stub", cert, sa_token, forbidden_token,
                     {"--kaniko-cluster", "--deny", "jobs", "--deny", "pods"});
  const auto c = kiwi::probe_runtime(kubernetes(api.url(), cert.cert_pem(), sa_token));
  // The API answers: the runtime works (for deploys, say); builds would not.
  REQUIRE_MESSAGE(c.ok, c.message);
  CHECK(c.message.starts_with("Kubernetes v1.32.3 (linux/arm64); Kaniko builds: not possible: "
                              "the runtime's service account may not create Jobs (HTTP 403: "));
  CHECK(c.message.find("; nor list pods (HTTP 403: ") != std::string::npos);
  CHECK(c.message.find("create Secrets") == std::string::npos);
  CHECK(c.message.ends_with("grant it create/get/delete on jobs and secrets, patch on secrets, "
                            "and get/list on pods and pods/log"));

  // An API server without the namespace (the stub's routes answer the recorded NotFound).
  test::k8s_stub bare(dir.path() / "bare", cert, sa_token, forbidden_token);
  const auto missing = kiwi::probe_runtime(kubernetes(bare.url(), cert.cert_pem(), sa_token));
  REQUIRE(missing.ok);
  CHECK(missing.message.find("Kaniko builds: not possible: namespace \"default\" does not exist") !=
        std::string::npos);
}

TEST_CASE("Kubernetes: no API server there is unreachable") {
  const int port = test::free_port();
  const auto none = kiwi::probe_runtime(
      kubernetes("https://127.0.0.1:" + std::to_string(port), "", sa_token));
  CHECK_FALSE(none.ok);
  CHECK(none.error_kind == "unreachable");
  CHECK(none.message.starts_with("Kubernetes API unreachable: cannot reach the Kubernetes API at"));
}

TEST_CASE("Docker: a real podman service answers /_ping and /version on its socket") {
  test::temp_dir dir("kiwi-podman");
  test::podman_service podman(dir.path());
  const auto c = kiwi::probe_runtime(docker_socket(podman.socket().string()),
                                     std::chrono::seconds(60));  // podman may start slowly
  REQUIRE_MESSAGE(c.ok, c.message);
  CHECK(c.message.starts_with("Docker Engine API 1.41, server 4.3"));
  CHECK(c.message.find("(linux/") != std::string::npos);
  // podman lists its components; what is there is reported.
  CHECK(c.message.find("components: Podman Engine 4.3") != std::string::npos);
}

TEST_CASE("Docker: a socket path with nothing listening is a clear failure") {
  test::temp_dir dir("kiwi-podman");
  const auto missing = kiwi::probe_runtime(docker_socket((dir.path() / "none.sock").string()));
  CHECK_FALSE(missing.ok);
  CHECK(missing.error_kind == "unreachable");
  CHECK(missing.message.starts_with("Docker engine unreachable: cannot reach the Docker engine at unix://"));
  CHECK(missing.message.find("is running") != std::string::npos);
}
