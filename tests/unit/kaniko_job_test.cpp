// The pure half of the Kaniko backend: the Secret and Job Kiwi sends, and how it reads recorded
// real pod and Job objects (tests/fixtures/k8s/), Kaniko's log lines and Status errors. The
// whole backend runs against the stub API server in tests/integration/test_kaniko.py.

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "common/security/crypto.hpp"
#include "worker/kaniko_backend.hpp"
#include "common/kubernetes/kaniko_job.hpp"
#include "common/kubernetes/kaniko_pod.hpp"
#include "common/kubernetes/log_timestamp.hpp"
#include "worker/kaniko_failure.hpp"
#include "k8s_fixtures.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json fixture(const std::string& name) { return kiwi::test::k8s_fixture(name); }
json pod_with_status(const std::string& name) { return kiwi::test::k8s_pod_with_status(name); }

kiwi::kaniko_job_spec sample_spec() {
  kiwi::kaniko_job_spec spec;
  spec.name = kiwi::kaniko_job_name("01JD3ZK8X7Q9V5R2M4N6P8T0WA");
  spec.namespace_ = "ci-builds";
  spec.build_id = "01jd3zk8x7q9v5r2m4n6p8t0wa";
  spec.service = "shop";
  spec.git = std::get<kiwi::kaniko_git_context>(kiwi::make_kaniko_git_context(
      "https://gitlab.example.com/team/shop.git", "refs/heads/main",
      "1a2b3c4d5e6f1a2b3c4d5e6f1a2b3c4d5e6f1a2b"));
  spec.git_username = "oauth2";
  spec.git_token = "glpat-UNIQUE-token-1234";
  spec.dockerfile = "Dockerfile";
  spec.destinations = {"harbor.example.com/team/shop:main-1a2b3c4"};
  spec.cache_repo = "harbor.example.com/team/shop/cache";
  kiwi::registry_credentials creds;
  creds.url = "https://harbor.example.com";
  creds.username = "robot$ci";
  creds.password = "UNIQUE-harbor-pass";
  spec.registry = creds;
  spec.active_deadline_s = 1200;
  return spec;
}

}  // namespace

TEST_CASE("the git source pins the exact commit and keeps credentials out of the URL") {
  auto c = kiwi::make_kaniko_git_context("https://oauth2:glpat-x@gitlab.example.com/a/b.git",
                                         "refs/heads/main", "abc123");
  REQUIRE(std::holds_alternative<kiwi::kaniko_git_context>(c));
  const auto& git = std::get<kiwi::kaniko_git_context>(c);
  CHECK(git.url == "https://gitlab.example.com/a/b.git");
  CHECK(git.ref == "refs/heads/main");
  CHECK(git.sha == "abc123");
  CHECK_FALSE(git.plain_http);

  auto plain = kiwi::make_kaniko_git_context("http://127.0.0.1:8080/git/app.git",
                                             "refs/tags/v1.2.0", "def456");
  REQUIRE(std::holds_alternative<kiwi::kaniko_git_context>(plain));
  CHECK(std::get<kiwi::kaniko_git_context>(plain).url == "http://127.0.0.1:8080/git/app.git");
  CHECK(std::get<kiwi::kaniko_git_context>(plain).plain_http);

  for (const char* url : {"ssh://git@github.com/org/app.git", "git@github.com:org/app.git",
                          "file:///srv/git/app.git"}) {
    auto refused = kiwi::make_kaniko_git_context(url, "refs/heads/main", "abc");
    REQUIRE(std::holds_alternative<std::string>(refused));
    CHECK(std::get<std::string>(refused).find("https") != std::string::npos);
  }
}

TEST_CASE("job names are DNS-1123 labels of at most 63 characters") {
  const std::string name = kiwi::kaniko_job_name("01JD3ZK8X7Q9V5R2M4N6P8T0WA");
  CHECK(name == "kiwi-build-01jd3zk8x7q9v5r2m4n6p8t0wa");
  CHECK(kiwi::kaniko_job_name(std::string(80, 'a')).size() == 63);
  CHECK(kiwi::is_dns1123_label(kiwi::kaniko_job_name("a_b.C-")));
}

TEST_CASE("the Secret carries config.json, the git credential and a generated Dockerfile") {
  auto spec = sample_spec();
  spec.generated_dockerfile = "FROM node:20\n";
  const json secret = kiwi::kaniko_secret_manifest(spec);
  CHECK(secret["kind"] == "Secret");
  CHECK(secret["metadata"]["name"] == spec.name);
  CHECK(secret["metadata"]["labels"]["kiwi.dev/build-id"] == spec.build_id);
  const json config = json::parse(secret["stringData"]["config.json"].get<std::string>());
  CHECK(config["auths"]["harbor.example.com"]["auth"] ==
        kiwi::base64_encode("robot$ci:UNIQUE-harbor-pass"));
  CHECK(secret["stringData"]["git-credentials"] ==
        "https://oauth2:glpat-UNIQUE-token-1234@gitlab.example.com\n");
  CHECK(secret["stringData"]["Dockerfile"] == "FROM node:20\n");
  // Characters with a meaning in a URL are %-encoded in the credential line.
  spec.git_username = "x@y";
  spec.git_token = "a:b/c%";
  CHECK(kiwi::git_credentials_line(spec) == "https://x%40y:a%3Ab%2Fc%25@gitlab.example.com\n");

  spec.git_token.clear();  // a public repository: no git credentials at all
  CHECK_FALSE(kiwi::kaniko_secret_manifest(spec)["stringData"].contains("git-credentials"));
}

TEST_CASE("the Job runs the executor once, with the secrets only by reference") {
  auto spec = sample_spec();
  kiwi::kaniko_settings settings;
  settings.service_account = "kiwi-builder";
  settings.memory_limit.clear();
  const json job = kiwi::kaniko_job_manifest(spec, settings);
  CHECK(job["apiVersion"] == "batch/v1");
  CHECK(job["spec"]["backoffLimit"] == 0);
  CHECK(job["spec"]["activeDeadlineSeconds"] == 1200);
  const json& pod = job["spec"]["template"]["spec"];
  CHECK(pod["restartPolicy"] == "Never");
  CHECK(pod["serviceAccountName"] == "kiwi-builder");
  CHECK(pod["automountServiceAccountToken"] == false);
  const json& c = pod["containers"][0];
  CHECK(c["name"] == "kaniko");
  CHECK(c["image"] == settings.image);
  CHECK(c["terminationMessagePath"] == "/dev/termination-log");
  CHECK_FALSE(c["resources"]["limits"].contains("memory"));
  CHECK(c["resources"]["requests"]["cpu"] == "500m");
  const auto args = c["args"].get<std::vector<std::string>>();
  const std::vector<std::string> expected = {
      "--context=dir:///workspace",
      "--dockerfile=Dockerfile",
      "--destination=harbor.example.com/team/shop:main-1a2b3c4",
      "--digest-file=/dev/termination-log",
      "--cache=true",
      "--cache-repo=harbor.example.com/team/shop/cache",
      "--push-retry=2"};
  CHECK(args == expected);
  const std::string text = job.dump();
  CHECK(text.find("UNIQUE") == std::string::npos);  // no token, no password in the Job
  // workspace, the clone's credential and config.json; no generated Dockerfile.
  CHECK(pod["volumes"].size() == 3);

  spec.registry->insecure = true;
  spec.context_sub_path = "services/api";
  spec.build_args = {{"VERSION", "1.2"}};
  const auto more = kiwi::kaniko_args(spec);
  for (const char* a : {"--insecure", "--skip-tls-verify", "--insecure-pull",
                        "--context=dir:///workspace/services/api", "--build-arg=VERSION=1.2"}) {
    CHECK(std::find(more.begin(), more.end(), a) != more.end());
  }
}

// A RUN step runs inside the executor's container: no git credential may reach it, whether by
// environment, arguments or a mounted volume. Only the clone (init) container gets the token,
// as a file from the Secret.
TEST_CASE("the git token reaches the clone container only, never the executor") {
  auto spec = sample_spec();
  spec.generated_dockerfile = "FROM node:20\n";
  kiwi::kaniko_settings settings;
  const json job = kiwi::kaniko_job_manifest(spec, settings);
  const json& pod = job["spec"]["template"]["spec"];
  std::map<std::string, json> volumes;
  for (const json& v : pod["volumes"]) {
    volumes[v["name"].get<std::string>()] = v;
  }
  const auto secret_keys = [&](const std::string& volume) {
    std::vector<std::string> keys;
    const json& v = volumes.at(volume);
    if (v.contains("secret")) {
      for (const json& item : v["secret"]["items"]) {
        keys.push_back(item["key"].get<std::string>());
      }
    }
    return keys;
  };

  REQUIRE(pod["containers"].size() == 1);
  const json& executor = pod["containers"][0];
  CHECK(executor["name"] == "kaniko");
  CHECK_FALSE(executor.contains("env"));
  CHECK_FALSE(executor.contains("envFrom"));
  const std::string args = executor["args"].dump();
  CHECK(args.find("git") == std::string::npos);
  for (const json& m : executor["volumeMounts"]) {
    for (const auto& key : secret_keys(m["name"].get<std::string>())) {
      CHECK_MESSAGE(key != "git-credentials", "the executor mounts " << m["name"]);
    }
  }

  REQUIRE(pod["initContainers"].size() == 1);
  const json& clone = pod["initContainers"][0];
  CHECK(clone["name"] == "clone");
  CHECK(clone["image"] == settings.git_image);
  bool mounts_credentials = false;
  bool mounts_workspace = false;
  for (const json& m : clone["volumeMounts"]) {
    const auto keys = secret_keys(m["name"].get<std::string>());
    mounts_credentials |= std::find(keys.begin(), keys.end(), "git-credentials") != keys.end();
    mounts_workspace |= m["name"] == "workspace" && m["mountPath"] == "/workspace";
  }
  CHECK(mounts_credentials);
  CHECK(mounts_workspace);
  std::map<std::string, std::string> env;
  for (const json& e : clone["env"]) {
    CHECK_FALSE(e.contains("valueFrom"));  // nothing from the Secret by environment
    env[e["name"].get<std::string>()] = e["value"].get<std::string>();
  }
  CHECK(env["KIWI_GIT_URL"] == "https://gitlab.example.com/team/shop.git");
  CHECK(env["KIWI_GIT_REF"] == "refs/heads/main");
  CHECK(env["KIWI_GIT_SHA"] == "1a2b3c4d5e6f1a2b3c4d5e6f1a2b3c4d5e6f1a2b");
  CHECK(volumes.at("workspace").contains("emptyDir"));

  // A public repository: no credential volume at all.
  spec.git_token.clear();
  const json anon = kiwi::kaniko_job_manifest(spec, settings);
  CHECK(anon.dump().find("git-credentials") == std::string::npos);
}

TEST_CASE("recorded pod: a failed clone (init) container fails the build, saying so") {
  // GKE 2020: an init container exited 1 (restartCount 13); the main container waits.
  auto s = kiwi::read_kaniko_pod(pod_with_status("pods/pod-status-only-init-container-crashloop.json"),
                                 "ghcr.io/osscontainertools/kaniko:v1.28.0");
  CHECK(s.what == kiwi::kaniko_pod_state::phase::failed);
  CHECK(s.message.find("cloning the repository in the build pod failed") != std::string::npos);
  CHECK(s.message.find("exited with code 1") != std::string::npos);
}

TEST_CASE("recorded pods: running, exit codes, image pull, scheduling, memory") {
  const std::string executor = "ghcr.io/osscontainertools/kaniko:v1.28.0";
  using phase = kiwi::kaniko_pod_state::phase;

  // kind v1.30: the pod of a Job whose container ran `exit 5`.
  auto failed = kiwi::read_kaniko_pod(fixture("jobs/job-failed-pods-podlist.json"), executor);
  CHECK(failed.what == phase::failed);
  CHECK(failed.exit_code == 5);
  CHECK(failed.pod == "k8s-openapi-tests-create-job-xvgj5");
  CHECK(failed.message == "Kaniko exited with code 5 (Error)");

  // The same pod, exiting 0 with a digest as its termination message (see the fixtures'
  // README: no recording of a terminated container with a message exists).
  json ok = fixture("jobs/job-failed-pods-podlist.json");
  auto& term = ok["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"];
  term["exitCode"] = 0;
  term["message"] =
      "sha256:b5429ceebb9d2345070526b8ce0ee897e3934a341f4fd18703266784deb877c1\n";
  auto done = kiwi::read_kaniko_pod(ok, executor);
  CHECK(done.what == phase::succeeded);
  CHECK(done.digest == "sha256:b5429ceebb9d2345070526b8ce0ee897e3934a341f4fd18703266784deb877c1");
  term["message"] = "not a digest";
  CHECK(kiwi::read_kaniko_pod(ok, executor).what == phase::failed);

  auto running = kiwi::read_kaniko_pod(fixture("pods/pod-running-ready.json"), executor);
  CHECK(running.what == phase::running);

  auto pull = kiwi::read_kaniko_pod(pod_with_status("pods/pod-status-only-imagepullbackoff.json"),
                                    executor);
  CHECK(pull.what == phase::failed);
  CHECK(pull.exit_code == -1);  // it never ran
  CHECK(pull.message.find("\"notanimage/thatexistsanywhere:badtag\" cannot be pulled "
                          "(ImagePullBackOff") != std::string::npos);

  auto full_pull = kiwi::read_kaniko_pod(fixture("pods/pod-imagepullbackoff.json"), executor);
  CHECK(full_pull.what == phase::failed);
  CHECK(full_pull.message.find("ImagePullBackOff") != std::string::npos);

  for (const char* name : {"pods/pod-status-only-unschedulable-insufficient-cpu-memory.json",
                           "pods/pod-status-fragment-unschedulable-0of3-insufficient-cpu.json",
                           "pods/pod-status-fragment-unschedulable-pending.json"}) {
    CAPTURE(name);
    auto pending = kiwi::read_kaniko_pod(pod_with_status(name), executor);
    CHECK(pending.what == phase::waiting);
    CHECK(pending.unschedulable);
    CHECK(pending.message.find("Insufficient cpu") != std::string::npos);
  }

  auto oom = kiwi::read_kaniko_pod(pod_with_status("pods/pod-status-only-kaniko-oomkilled.json"),
                                   executor);
  CHECK(oom.what == phase::failed);
  CHECK(oom.message.find("OOMKilled") != std::string::npos);
  CHECK(oom.message.find("kaniko.memory_limit") != std::string::npos);

  CHECK(kiwi::read_kaniko_pod(json{{"items", json::array()}}, executor).pod.empty());
}

TEST_CASE("recorded Jobs: a failed Job says why, a running one does not") {
  CHECK_FALSE(kiwi::job_failure(fixture("jobs/job-running.json")));
  CHECK_FALSE(kiwi::job_failure(fixture("jobs/job-succeeded-complete.json")));
  auto backoff = kiwi::job_failure(fixture("jobs/job-failed-backofflimitexceeded.json"));
  REQUIRE(backoff);
  CHECK(backoff->find("BackoffLimitExceeded") != std::string::npos);
  auto deadline = kiwi::job_failure(fixture("jobs/job-status-fragment-deadlineexceeded.json"));
  REQUIRE(deadline);
  CHECK(deadline->find("exceeded its deadline") != std::string::npos);
}

TEST_CASE("Status bodies give their message") {
  std::ifstream in(fs::path(KIWI_FIXTURES_DIR) / "k8s/status/status-403-forbidden.json");
  const std::string body{std::istreambuf_iterator<char>(in), {}};
  CHECK(kiwi::kube_status_message(body).find("forbidden") != std::string::npos);
  CHECK(kiwi::kube_status_message("not json").empty());
}

TEST_CASE("log timestamps: RFC 3339 with any fraction, and back to seconds") {
  auto a = kiwi::split_log_timestamp("2024-09-12T06:22:28.1Z INFO[0000] one");
  auto b = kiwi::split_log_timestamp("2024-09-12T06:22:28.12Z two");
  auto c = kiwi::split_log_timestamp("2024-09-12T06:22:29Z");
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(a->text == "INFO[0000] one");
  CHECK(a->at < b->at);  // .1 < .12, which string comparison gets wrong
  CHECK(b->at < c->at);
  CHECK(c->text.empty());
  CHECK(a->at.seconds == 1726122148);
  CHECK(a->at.nanos == 100000000);
  CHECK(kiwi::rfc3339_seconds(a->at.seconds) == "2024-09-12T06:22:28Z");
  CHECK(kiwi::rfc3339_seconds(951782400) == "2000-02-29T00:00:00Z");
  CHECK_FALSE(kiwi::split_log_timestamp("INFO[0000] no timestamp"));
  CHECK_FALSE(kiwi::split_log_timestamp("2024-09-12T06:22:28+02:00 offset"));
}

TEST_CASE("Kaniko's last lines become the buildah backend's messages") {
  using errc = kiwi::image_build_errc;
  // tektoncd/pipeline#4597 and GoogleContainerTools/kaniko#1827 (see the fixtures' README).
  auto step = kiwi::classify_kaniko_failure(
      {"INFO[2022-02-18T03:28:37Z] RUN xx", "INFO[2022-02-18T03:28:37Z] args: [-c xx]",
       "error building image: error building stage: failed to execute command: waiting for "
       "process to exit: exit status 1"},
      "Kaniko exited with code 1");
  CHECK(step.code == errc::step_failed);
  CHECK(step.exit_code == 1);
  CHECK(step.message == "Build step failed (exit code 1): RUN xx");

  auto unauthorized = kiwi::classify_kaniko_failure(
      {"error checking push permissions -- make sure you entered the correct tag name, and "
       "that you are authenticated correctly, and try again: checking push permission for "
       "\"harbor.example.com/team/shop:main\": POST https://harbor.example.com/v2/team/shop/"
       "blobs/uploads/: UNAUTHORIZED: unauthorized to access repository"},
      "Kaniko exited with code 1");
  CHECK(unauthorized.code == errc::push_unauthorized);
  CHECK(unauthorized.message == "Image push failed: check the registry credentials");

  auto unknown = kiwi::classify_kaniko_failure({"INFO[0001] something"}, "Kaniko exited with 2");
  CHECK(unknown.code == errc::other);
  CHECK(unknown.message == "Kaniko exited with 2");
}
