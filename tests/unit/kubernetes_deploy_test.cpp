// The pure half of the Kubernetes deployer: the manifests Kiwi applies, kubectl's rollout status
// and the pod diagnostics, on recorded real Deployment, Pod and Event objects
// (tests/fixtures/k8s/). The whole deployer runs against the stub API server in
// kubernetes_deployer_test.cpp.

#include <doctest/doctest.h>

#include "common/config/resources.hpp"
#include "common/deploy/kubernetes_manifests.hpp"
#include "common/deploy/kubernetes_rollout.hpp"
#include "common/security/crypto.hpp"
#include "k8s_fixtures.hpp"

using nlohmann::json;
namespace test = kiwi::test;

namespace {

const std::string secret_value = "UNIQUE-db-password-5f1e";
const std::string registry_password = "UNIQUE-registry-password-77c0";
const std::string image =
    "registry.example.com/team/user-api@sha256:"
    "b5429ceebb9d2345070526b8ce0ee897e3934a341f4fd18703266784deb877c1";

kiwi::deploy_request sample_request() {
  auto r = test::k8s_deploy_request("user-api", image, secret_value, registry_password);
  r.env.replicas = 3;
  r.env.resources.requests = {"250m", "256Mi"};
  r.env.resources.limits = {"1", "512Mi"};
  r.env.health.path = "/healthz";
  r.env.deadline_s = 120;
  return r;
}

json pod_list(json pod) { return {{"kind", "PodList"}, {"items", json::array({pod})}}; }

json event_list(std::initializer_list<std::string> names, const std::string& pod) {
  json items = json::array();
  for (const auto& name : names) {
    json e = test::k8s_fixture(name);
    e["involvedObject"]["name"] = pod;
    items.push_back(e);
  }
  return {{"kind", "EventList"}, {"items", items}};
}

}  // namespace

TEST_CASE("deploy manifests: Secrets first, then the Deployment and the Service, all labelled") {
  const auto request = sample_request();
  const auto names = kiwi::kube_names("user-api", "production", "team");
  CHECK(names.name == "user-api-production");
  CHECK(names.env_secret == "user-api-production-env");
  CHECK(names.pull_secret == "user-api-production-registry");
  const auto manifests = kiwi::kube_deploy_manifests(request, names);
  REQUIRE(manifests.size() == 4);
  CHECK(manifests[0]["kind"] == "Secret");
  CHECK(manifests[0]["metadata"]["name"] == "user-api-production-env");
  CHECK(manifests[1]["type"] == "kubernetes.io/dockerconfigjson");
  CHECK(manifests[2]["kind"] == "Deployment");
  CHECK(manifests[3]["kind"] == "Service");
  for (const json& m : manifests) {
    CHECK(m["metadata"]["namespace"] == "team");
    CHECK(m["metadata"]["labels"]["app.kubernetes.io/name"] == "user-api");
    CHECK(m["metadata"]["labels"]["kiwi.dev/service"] == "user-api");
    CHECK(m["metadata"]["labels"]["kiwi.dev/environment"] == "production");
    CHECK(m["metadata"]["annotations"]["kiwi.dev/deployment"] == request.deployment_id);
    // The secret values are in their Secrets and nowhere else.
    const bool is_env_secret = m["metadata"]["name"] == names.env_secret;
    CHECK((m.dump().find(secret_value) != std::string::npos) == is_env_secret);
    CHECK(m.dump().find(registry_password) == std::string::npos);
  }
  CHECK(manifests[0]["stringData"]["DB_PASSWORD"] == secret_value);
  // The pull secret: config.json's auths, user:password base64-encoded.
  const json config =
      json::parse(manifests[1]["stringData"][".dockerconfigjson"].get<std::string>());
  CHECK(config["auths"]["registry.example.com"]["auth"] ==
        kiwi::base64_encode("robot:" + registry_password));
}

TEST_CASE("the Deployment: replicas, image by digest, env from the Secret, resources, probe") {
  const auto request = sample_request();
  const auto names = kiwi::kube_names("user-api", "production", "team");
  const json d = kiwi::kube_deployment_manifest(request, names);
  CHECK(d["apiVersion"] == "apps/v1");
  CHECK(d["spec"]["replicas"] == 3);
  CHECK(d["spec"]["progressDeadlineSeconds"] == 120);
  CHECK(d["spec"]["selector"]["matchLabels"] ==
        json{{"kiwi.dev/service", "user-api"}, {"kiwi.dev/environment", "production"}});
  const json& tmpl = d["spec"]["template"];
  CHECK(tmpl["metadata"]["annotations"]["kiwi.dev/deployment"] == request.deployment_id);
  CHECK(tmpl["metadata"]["labels"]["kiwi.dev/environment"] == "production");
  CHECK(tmpl["spec"]["imagePullSecrets"] == json::array({{{"name", names.pull_secret}}}));
  const json& c = tmpl["spec"]["containers"][0];
  CHECK(c["image"] == image);
  CHECK(c["env"] == json::array({{{"name", "LOG_LEVEL"}, {"value", "info"}},
                                 {{"name", "DB_PASSWORD"},
                                  {"valueFrom",
                                   {{"secretKeyRef",
                                     {{"name", names.env_secret}, {"key", "DB_PASSWORD"}}}}}}}));
  CHECK(c["resources"] == json{{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}},
                               {"limits", {{"cpu", "1"}, {"memory", "512Mi"}}}});
  CHECK(c["ports"][0]["containerPort"] == 8080);
  CHECK(c["readinessProbe"]["httpGet"] == json{{"path", "/healthz"}, {"port", 8080}});

  const json s = kiwi::kube_service_manifest(request, names);
  CHECK(s["spec"]["selector"] == d["spec"]["selector"]["matchLabels"]);
  CHECK(s["spec"]["ports"][0]["port"] == 8080);
}

TEST_CASE("deploy manifests without a port, secret_env or registry login: the Deployment only") {
  auto request = sample_request();
  request.env.port = 0;
  request.env.secret_env.clear();
  request.env.health.path.clear();
  request.registry.reset();
  const auto names = kiwi::kube_names("user-api", "production", "team");
  const auto manifests = kiwi::kube_deploy_manifests(request, names);
  REQUIRE(manifests.size() == 1);
  const json& pod = manifests[0]["spec"]["template"]["spec"];
  CHECK_FALSE(pod.contains("imagePullSecrets"));
  CHECK_FALSE(pod["containers"][0].contains("readinessProbe"));
  CHECK_FALSE(pod["containers"][0].contains("ports"));
}

TEST_CASE("object names stay within 63 characters and long ones keep apart") {
  const std::string service(60, 'a');
  const auto one = kiwi::kube_names(service, "production", "ns");
  const auto two = kiwi::kube_names(service, "production-eu", "ns");
  CHECK(one.pull_secret.size() <= 63);
  CHECK(one.name != two.name);
  CHECK(one.name.starts_with("aaaa"));
}

TEST_CASE("server-side apply: PATCH path with fieldManager=kiwi and force per setting") {
  const auto request = sample_request();
  const auto names = kiwi::kube_names("user-api", "production", "team");
  CHECK(kiwi::kube_apply_path(kiwi::kube_deployment_manifest(request, names), true) ==
        "/apis/apps/v1/namespaces/team/deployments/user-api-production?fieldManager=kiwi&force=true");
  CHECK(kiwi::kube_apply_path(kiwi::kube_service_manifest(request, names), false) ==
        "/api/v1/namespaces/team/services/user-api-production?fieldManager=kiwi&force=false");
  CHECK(kiwi::kube_object_path(kiwi::kube_env_secret_manifest(request, names)) ==
        "/api/v1/namespaces/team/secrets/user-api-production-env");
  CHECK(kiwi::kube_apply_content_type == "application/apply-patch+yaml");
}

TEST_CASE("the runtime's deploy_force_conflicts: true unless set false") {
  const json base = {{"name", "prod"}, {"type", "kubernetes"}, {"api_url", "https://k8s:6443"},
                     {"token", "t"}};
  CHECK(kiwi::parse_runtime(base, {}).deploy_force_conflicts);
  json off = base;
  off["deploy_force_conflicts"] = false;
  const auto r = kiwi::parse_runtime(off, {});
  CHECK_FALSE(r.deploy_force_conflicts);
  CHECK(kiwi::to_json(r)["deploy_force_conflicts"] == false);
  off["deploy_force_conflicts"] = "no";
  CHECK_THROWS_AS(kiwi::parse_runtime(off, {}), kiwi::field_error);
}

TEST_CASE("rollout status of recorded Deployments, by kubectl's algorithm") {
  using phase = kiwi::kube_rollout::phase;
  // Generation 4 answered by a PATCH while the controller has not observed it.
  auto r = kiwi::read_rollout(
      test::k8s_fixture("deployments/deployment-patched-200-generation-ahead-of-status.json"));
  CHECK(r.what == phase::waiting);
  CHECK(r.message == "Waiting for deployment spec update to be observed...");

  r = kiwi::read_rollout(
      test::k8s_fixture("deployments/deployment-progressing-replicasetupdated.json"));
  CHECK(r.what == phase::waiting);
  CHECK(r.message == "Waiting for deployment \"guestbook-ui\" rollout to finish: 1 old replicas "
                     "are pending termination...");

  r = kiwi::read_rollout(test::k8s_fixture("deployments/deployment-progressdeadlineexceeded.json"));
  CHECK(r.what == phase::failed);
  CHECK(r.message == "deployment \"guestbook-ui\" exceeded its progress deadline");

  json available =
      test::k8s_fixture("deployments/deployment-available-newreplicasetavailable.json");
  r = kiwi::read_rollout(available);
  CHECK(r.what == phase::done);
  CHECK(r.available == 1);
  CHECK(r.desired == 1);
  CHECK(r.message.ends_with("successfully rolled out"));

  // The same object scaled to 3: not all new replicas are updated, then not all available.
  available["spec"]["replicas"] = 3;
  CHECK(kiwi::read_rollout(available).message.ends_with(
      "rollout to finish: 1 out of 3 new replicas have been updated..."));
  available["status"]["replicas"] = available["status"]["updatedReplicas"] = 3;
  CHECK(kiwi::read_rollout(available).message.ends_with(
      "rollout to finish: 1 of 3 updated replicas are available..."));
}

TEST_CASE("pod diagnostics: ImagePullBackOff names the image and the kubelet's reason") {
  json pod = test::k8s_fixture("pods/pod-imagepullbackoff.json");
  const std::string name = pod["metadata"]["name"];
  const auto problems = kiwi::diagnose_pods(
      pod_list(pod), event_list({"events/event-failed-pull-image.json",
                                 "events/event-failed-imagepullbackoff.TRIMMED.json"}, name),
      "", "");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].reason == "ImagePullBackOff");
  const std::string& d = problems[0].diagnostic;
  CHECK(d.starts_with("pod " + name + ": ImagePullBackOff: the image "
                      "\"gcr.io/heptio-images/ks-guestbook-demo:0.3\" cannot be pulled ("
                      "Failed to pull image \"quay.io/ukhomeofficedigital/s3registry:v2.0.0-bob\""));
  CHECK(d.ends_with(": check the image path and the registry credentials"));
  // Without events: the waiting message.
  CHECK(kiwi::diagnose_pods(pod_list(pod), json::object(), "", "")[0].diagnostic.find(
            "(Back-off pulling image \"gcr.io/heptio-images/ks-guestbook-demo:0.3\")") !=
        std::string::npos);
}

TEST_CASE("pod diagnostics: CrashLoopBackOff with restarts and the last exit code") {
  const auto problems = kiwi::diagnose_pods(
      pod_list(test::k8s_pod_with_status(
          "pods/pod-status-only-crashloopbackoff-laststate-terminated.json", "crash-loop")),
      json::object(), "", "");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].crash_loop);
  CHECK(problems[0].container == "sleep");
  CHECK(problems[0].restarts == 2);
  CHECK(problems[0].exit_code == 0);
  CHECK(problems[0].diagnostic ==
        "pod crash-loop: CrashLoopBackOff: container \"sleep\" keeps exiting (restarted 2 times, "
        "last exit code 0, Completed): its last log lines say why");
  // A recording without lastState: no exit code to tell.
  const auto trimmed = kiwi::diagnose_pods(
      pod_list(test::k8s_fixture("pods/pod-crashloopbackoff.TRIMMED.json")), json::object(), "",
      "");
  REQUIRE(trimmed.size() == 1);
  CHECK_FALSE(trimmed[0].exit_code);
  CHECK(trimmed[0].diagnostic.find("(restarted 0 times)") != std::string::npos);
}

TEST_CASE("pod diagnostics: Unschedulable passes the scheduler's message on") {
  auto problems = kiwi::diagnose_pods(
      pod_list(test::k8s_pod_with_status(
          "pods/pod-status-only-unschedulable-insufficient-cpu-memory.json", "web-1")),
      json::object(), "", "");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].diagnostic ==
        "pod web-1: Pending: Unschedulable (0/1 nodes are available: 1 Insufficient cpu, 1 "
        "Insufficient memory.): lower the environment's resources.requests or add capacity to "
        "the cluster");
  problems = kiwi::diagnose_pods(
      pod_list(test::k8s_pod_with_status(
          "pods/pod-status-fragment-unschedulable-0of3-insufficient-cpu.json", "web-2")),
      json::object(), "", "");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].diagnostic.find("(0/3 nodes are available: 3 Insufficient cpu.)") !=
        std::string::npos);
}

TEST_CASE("pod diagnostics: CreateContainerConfigError names the missing key's source") {
  const auto problems = kiwi::diagnose_pods(
      pod_list(test::k8s_fixture("pods/pod-createcontainerconfigerror.TRIMMED.json")),
      json::object(), "", "web-production-env");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].reason == "CreateContainerConfigError");
  CHECK(problems[0].diagnostic.find(": CreateContainerConfigError: configmap \"unknown-configmap\" "
                                    "not found: create the missing Secret or ConfigMap key "
                                    "(secret_env is in Secret \"web-production-env\"") !=
        std::string::npos);
}

TEST_CASE("pod diagnostics: a ready pod, and pods of another revision, have nothing to say") {
  json ready = test::k8s_fixture("pods/pod-running-ready.json");
  CHECK(kiwi::diagnose_pods(pod_list(ready), json::object(), "", "").empty());
  CHECK(kiwi::pod_lines(pod_list(ready)) ==
        std::vector<std::string>{ready["metadata"]["name"].get<std::string>() +
                                 ": running (ready)"});
  json old = test::k8s_fixture("pods/pod-createcontainerconfigerror.TRIMMED.json");
  old["metadata"]["annotations"] = {{"kiwi.dev/deployment", "older-revision"}};
  CHECK(kiwi::diagnose_pods(pod_list(old), json::object(), "this-revision", "").empty());
  CHECK(kiwi::diagnose_pods(pod_list(old), json::object(), "older-revision", "").size() == 1);
}
