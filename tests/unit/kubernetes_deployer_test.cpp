// The Kubernetes deployer end to end against the stub API server (tests/support/k8s_stub.py
// with deploy_cluster.py): no Kubernetes API server can run here, so the stub plays each rollout
// with recorded real Deployment, Pod, Event and Status objects (tests/fixtures/k8s/) and checks
// every server-side apply request (content type, fieldManager, force, labels, annotation, no
// secret value outside its Secret), writing what is wrong into its request log.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/deploy/deployer.hpp"
#include "k8s_fixtures.hpp"
#include "probe_servers.hpp"

namespace fs = std::filesystem;
namespace test = kiwi::test;
using nlohmann::json;

namespace {

const std::string sa_token = "UNIQUE-k8s-deploy-token-3e9a";
const std::string secret_value = "UNIQUE-db-password-a41c";
const std::string registry_password = "UNIQUE-registry-password-0b2d";
const std::string image =
    "registry.example.com/team/web@sha256:"
    "b5429ceebb9d2345070526b8ce0ee897e3934a341f4fd18703266784deb877c1";

// One scenario of deploy_cluster.py: the stub, a runtime for it, and what deploy() did.
struct cluster {
  test::temp_dir dir{"kiwi-k8s-deploy"};
  test::self_signed cert{dir.path() / "tls", "k8s-stub"};
  test::k8s_stub api;
  kiwi::runtime_config runtime;
  std::vector<kiwi::deploy_progress> reports;

  explicit cluster(const std::string& scenario)
      : api(dir.path() / "stub", cert, sa_token, "UNIQUE-forbidden-token",
            {"--deploy-cluster", scenario}) {
    runtime.name = "prod-cluster";
    runtime.type = "kubernetes";
    runtime.api_url = api.url();
    runtime.ca_cert = cert.cert_pem();
    runtime.token = sa_token;
    runtime.namespace_ = "team";
  }

  kiwi::deploy_result deploy(unsigned deadline_s = 2, const std::string& ns = "") {
    auto r = test::k8s_deploy_request("web", image, secret_value, registry_password);
    r.env.namespace_ = ns;
    r.env.replicas = 1;  // as the recorded Deployments
    r.env.deadline_s = deadline_s;
    auto d = kiwi::make_kubernetes_deployer(runtime, std::chrono::seconds(10));
    return d->deploy(r, [this](const kiwi::deploy_progress& p) { reports.push_back(p); });
  }

  std::vector<json> requests() const {
    std::vector<json> out;
    std::istringstream in(api.requests());
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(json::parse(line));
    }
    return out;
  }

  // Every apply the stub saw, checked: no violation, the apply content type.
  std::vector<std::string> applied_kinds() const {
    std::vector<std::string> kinds;
    for (const json& r : requests()) {
      if (r.contains("violations")) {
        CHECK_MESSAGE(r["violations"].empty(), r.dump());
      }
      if (r["method"] == "PATCH") {
        CHECK(r["content_type"] == "application/apply-patch+yaml");
        CHECK(r["query"]["fieldManager"] == json::array({"kiwi"}));
        kinds.push_back(r["body"]["kind"].get<std::string>() + " " +
                        r["query"]["force"][0].get<std::string>());
      }
    }
    return kinds;
  }

  std::string diagnostics_reported() const {
    std::string all;
    for (const auto& p : reports) all += p.diagnostic + "\n";
    return all;
  }
};

void check_no_secret(const kiwi::deploy_result& r) {
  const std::string all = r.message + json(r.diagnostics).dump() + json(r.log_tail).dump();
  CHECK(all.find(secret_value) == std::string::npos);
  CHECK(all.find(registry_password) == std::string::npos);
  CHECK(all.find(sa_token) == std::string::npos);
}

// A deploy in a failing scenario: failed for good, with one diagnostic, also reported while
// waiting; every apply as it should be; no secret in the result.
kiwi::deploy_result failed_deploy(cluster& c) {
  const auto r = c.deploy();
  CHECK_FALSE(r.succeeded);
  CHECK(r.kind == kiwi::failure_kind::permanent);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(c.diagnostics_reported().find(r.diagnostics[0]) != std::string::npos);
  c.applied_kinds();
  check_no_secret(r);
  return r;
}

}  // namespace

TEST_CASE("k8s deploy: a rollout that succeeds; inspect and remove") {
  cluster c("success");
  const auto r = c.deploy();
  REQUIRE_MESSAGE(r.succeeded, r.message);
  CHECK(r.message == "1/1 replicas running (http://web-production.team.svc:8080/)");
  CHECK(r.url == "http://web-production.team.svc:8080/");
  CHECK(c.applied_kinds() == std::vector<std::string>{"Secret true", "Secret true",
                                                      "Deployment true", "Service true"});
  // Progress: first the spec not yet observed (0/1), then rolled out (1/1).
  REQUIRE(c.reports.size() == 2);
  CHECK(c.reports[0].message == "0/1 replicas ready");
  CHECK(c.reports[1].message == "1/1 replicas ready");
  check_no_secret(r);

  auto d = kiwi::make_kubernetes_deployer(c.runtime, std::chrono::seconds(10));
  const auto state = d->inspect("web", "production");
  CHECK(state.deployment_id == "01JD3ZK8X7Q9V5R2M4N6P8T0WA");
  CHECK(state.image == image);
  CHECK(state.ready == 1);
  CHECK(state.desired == 1);
  CHECK(state.instances ==
        std::vector<std::string>{"web-production-75dd4d49d5-x2k9p: running (ready)"});
  d->remove("web", "production");
  CHECK(d->inspect("web", "production").deployment_id.empty());
}

TEST_CASE("k8s deploy: ImagePullBackOff fails at the deadline naming the image") {
  cluster c("image-pull");
  const auto r = failed_deploy(c);
  CHECK(r.message.starts_with("deployment \"web-production\" did not roll out within 2 s "
                              "(deadline_s): Waiting for deployment \"web-production\" rollout "
                              "to finish: 1 old replicas are pending termination...: pod "));
  CHECK(r.diagnostics[0] == "pod web-production-75dd4d49d5-x2k9p: ImagePullBackOff: the image \"" +
                                image + "\" cannot be pulled (Failed to pull image \"" + image +
                                "\": image pull failed for " + image +
                                ", this may be because there are no credentials on this request."
                                "  details: (Tag v2.0.0-bob not found in repository "
                                "quay.io/ukhomeofficedigital/s3registry)): check the image path "
                                "and the registry credentials");
}

TEST_CASE("k8s deploy: CrashLoopBackOff reports restarts, exit code and the previous log") {
  cluster c("crash-loop");
  const auto r = failed_deploy(c);
  CHECK(r.diagnostics[0] ==
        "pod web-production-75dd4d49d5-x2k9p: CrashLoopBackOff: container \"web\" keeps exiting "
        "(restarted 2 times, last exit code 0, Completed): its last log lines say why");
  CHECK(r.exit_code == 0);
  REQUIRE_FALSE(r.log_tail.empty());
  CHECK(r.log_tail.size() <= 20);
  CHECK(r.log_tail.back().find("error building image") != std::string::npos);
  bool asked_previous = false;
  for (const json& q : c.requests()) {
    if (q["path"].get<std::string>().ends_with("/log")) {
      asked_previous = q["query"]["previous"] == json::array({"true"}) &&
                       q["query"]["tailLines"] == json::array({"20"}) &&
                       q["query"]["container"] == json::array({"web"});
    }
  }
  CHECK(asked_previous);
}

TEST_CASE("k8s deploy: Unschedulable and CreateContainerConfigError say what to change") {
  const std::pair<std::string, std::string> cases[] = {
      // The scheduler's message is passed on.
      {"unschedulable",
       "pod web-production-75dd4d49d5-x2k9p: Pending: Unschedulable (0/1 nodes are available: 1 "
       "Insufficient cpu, 1 Insufficient memory.): lower the environment's resources.requests or "
       "add capacity to the cluster"},
      // The missing key's source is named.
      {"config-error",
       "pod web-production-75dd4d49d5-x2k9p: CreateContainerConfigError: configmap "
       "\"unknown-configmap\" not found: create the missing Secret or ConfigMap key (secret_env "
       "is in Secret \"web-production-env\", written by Kiwi)"}};
  for (const auto& [scenario, diagnostic] : cases) {
    CAPTURE(scenario);
    cluster c(scenario);
    CHECK(failed_deploy(c).diagnostics[0] == diagnostic);
  }
}

TEST_CASE("k8s deploy: ProgressDeadlineExceeded fails before Kiwi's own deadline") {
  cluster c("deadline");
  const auto r = c.deploy(3600);
  CHECK_FALSE(r.succeeded);
  CHECK(r.message == "deployment \"web-production\" exceeded its progress deadline");
  // A first deploy that failed leaves nothing behind.
  std::vector<std::string> deleted;
  for (const json& q : c.requests()) {
    if (q["method"] == "DELETE") deleted.push_back(q["path"].get<std::string>());
  }
  CHECK(deleted == std::vector<std::string>{
                       "/apis/apps/v1/namespaces/team/deployments/web-production",
                       "/api/v1/namespaces/team/services/web-production",
                       "/api/v1/namespaces/team/secrets/web-production-env",
                       "/api/v1/namespaces/team/secrets/web-production-registry"});
}

TEST_CASE("k8s deploy: a rejected token (401) and a missing namespace (404)") {
  cluster c("success");
  c.runtime.token = "wrong-" + sa_token;
  auto r = c.deploy();
  CHECK_FALSE(r.succeeded);
  CHECK(r.message == "the Kubernetes API rejected runtime \"prod-cluster\"'s token (401 "
                     "Unauthorized): renew the runtime's service account token");
  check_no_secret(r);
  CHECK(r.message.find("wrong-") == std::string::npos);

  c.runtime.token = sa_token;
  r = c.deploy(2, "missing");
  CHECK_FALSE(r.succeeded);
  CHECK(r.message.starts_with("cannot apply Secret \"web-production-env\": namespace \"missing\" does "
                              "not exist on runtime \"prod-cluster\" ("));
  CHECK(r.message.ends_with("): create it (kubectl create namespace missing) or set the "
                            "environment's namespace"));
}

TEST_CASE("k8s deploy: a field-manager conflict (409) without force, taken over with it") {
  cluster c("conflict");
  c.runtime.deploy_force_conflicts = false;
  auto r = c.deploy();
  CHECK_FALSE(r.succeeded);
  CHECK(r.message.starts_with("cannot apply Deployment \"web-production\" in namespace \"team\": "
                              "another field manager owns fields Kiwi sets (409 Conflict: "));
  CHECK(r.message.ends_with("set runtime \"prod-cluster\"'s deploy_force_conflicts to true to "
                            "take them over"));
  CHECK(c.applied_kinds() ==
        std::vector<std::string>{"Secret false", "Secret false", "Deployment false"});

  c.runtime.deploy_force_conflicts = true;
  r = c.deploy();
  CHECK_MESSAGE(r.succeeded, r.message);
}
