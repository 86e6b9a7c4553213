#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/build/image_reference.hpp"
#include "tests/unit/base_image.hpp"
#include "tests/unit/git_servers.hpp"
#include "tests/unit/registry_server.hpp"
#include "worker/buildah_backend.hpp"
#include "worker/buildah_output.hpp"
#include "worker/registry_errors.hpp"
#include "worker/dockerfile_outline.hpp"

using kiwi::buildah_build_request;
using kiwi::failure_kind;
using kiwi::image_build_errc;
using kiwi::image_build_error;
using kiwi::image_build_outcome;
using kiwi::image_build_result;
namespace test = kiwi::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

std::string random_suffix() {
  std::random_device random;
  return std::to_string(random());
}

// A workspace with a Dockerfile, a private temp root, and a request on the shared storage.
struct build_fixture {
  test::temp_dir dir{"kiwi-build"};
  test::line_log log;
  buildah_build_request request;

  explicit build_fixture(const std::string& dockerfile) {
    test::write_file(dir.path() / "repo" / "Dockerfile", dockerfile);
    test::write_file(dir.path() / "repo" / "hello.txt", "hello\n");
    fs::create_directories(dir.path() / "tmp");
    request.workspace = dir.path() / "repo";
    request.storage = test::busybox_storage();
    request.temp_root = dir.path() / "tmp";
    request.references = {"localhost/kiwi-test/app:" + random_suffix()};
    request.retry_delay = 20ms;
    request.deadline = steady::now() + 120s;
    request.on_line = log.sink();
  }

  void use_registry(const std::string& url, const std::string& user, const std::string& password,
                    const std::string& image) {
    request.registry = kiwi::registry_credentials{url, user, password, true};
    request.references = {kiwi::image_reference(url, image, "t" + random_suffix())};
  }

  // Nothing is left in the private temp root: the credentials directory is gone.
  bool temp_root_empty() const { return fs::is_empty(dir.path() / "tmp"); }
};

// Copies, so that error_of(run_buildah_build(...)) outlives its argument.
image_build_error error_of(const image_build_outcome& outcome) {
  REQUIRE(std::holds_alternative<image_build_error>(outcome));
  return std::get<image_build_error>(outcome);
}

image_build_result result_of(const image_build_outcome& outcome) {
  if (const auto* e = std::get_if<image_build_error>(&outcome)) {
    std::string lines;
    for (const auto& l : e->last_lines) {
      lines += l + "\n";
    }
    FAIL("build failed: " << e->message << "\n" << lines);
  }
  return std::get<image_build_result>(outcome);
}

bool contains(const std::vector<std::string>& lines, std::string_view text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

// Any process whose command line contains `text`.
bool process_with(std::string_view text) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
      continue;
    }
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

kiwi::bud_log log_of(const std::vector<std::string>& lines) {
  kiwi::bud_log log;
  for (const auto& l : lines) {
    log.feed(l);
  }
  return log;
}

}  // namespace

// ---- Registry URLs and image references -------------------------------------------------

// A registry URL becomes the host part of the push reference.
TEST_CASE("image reference: registry URL to push host") {
  CHECK(kiwi::registry_host("https://127.0.0.1:5000") == "127.0.0.1:5000");
  CHECK(kiwi::registry_host("http://127.0.0.1:5000/") == "127.0.0.1:5000");
  CHECK(kiwi::registry_host("harbor.company.com") == "harbor.company.com");
  CHECK(kiwi::registry_host("HTTPS://Harbor.Company.com") == "harbor.company.com");
  CHECK(kiwi::registry_host("docker.io") == "docker.io");
  CHECK(kiwi::registry_host("https://index.docker.io") == "docker.io");
  CHECK(kiwi::registry_host("registry-1.docker.io") == "docker.io");
  CHECK(kiwi::image_reference("docker.io", "team/user-api", "main-1a2b3c4") ==
        "docker.io/team/user-api:main-1a2b3c4");
  CHECK(kiwi::image_reference("https://127.0.0.1:5000", "library/app", "v1") ==
        "127.0.0.1:5000/library/app:v1");
  CHECK(kiwi::image_reference("harbor.company.com", "/team/app", "1") ==
        "harbor.company.com/team/app:1");
  CHECK(kiwi::registry_plain_http("http://10.0.0.1:5000"));
  CHECK_FALSE(kiwi::registry_plain_http("https://10.0.0.1:5000"));
  CHECK_FALSE(kiwi::registry_plain_http("harbor.company.com"));
}

// The registry of a FROM reference: a first component that looks like a host, else Docker Hub.
TEST_CASE("image reference: host of a FROM reference") {
  CHECK(kiwi::reference_host("node:20") == "docker.io");
  CHECK(kiwi::reference_host("myorg/thing") == "docker.io");
  CHECK(kiwi::reference_host("localhost/busybox:latest") == "localhost");
  CHECK(kiwi::reference_host("127.0.0.1:5000/x:1") == "127.0.0.1:5000");
  CHECK(kiwi::reference_host("ghcr.io/org/app@sha256:abc") == "ghcr.io");
}

// ---- Dockerfile outline -----------------------------------------------------------------

// Instructions get their first line, stage and step as buildah numbers them.
TEST_CASE("dockerfile outline: lines, stages and steps") {
  const auto outline = kiwi::outline_dockerfile(
      "ARG V=latest\n"
      "# comment\n"
      "FROM base:$V AS one\n"
      "RUN echo one > /one\n"
      "\n"
      "from base AS unused\n"
      "RUN echo unused\n"
      "FROM base\n"
      "COPY --from=one /one /one\n"
      "RUN \\\n"
      "  # a comment inside\n"
      "  echo two && \\\n"
      "  exit 4\n"
      "CMD [\"/bin/sh\"]\n");
  CHECK(outline.stages == 3);
  REQUIRE(outline.instructions.size() == 9);
  CHECK(outline.instructions[0].stage == 0);
  const auto* run = outline.find_step(3, 3);
  REQUIRE(run != nullptr);
  CHECK(run->keyword == "RUN");
  CHECK(run->line == 10);
  CHECK(run->arguments == "echo two &&  exit 4");
  CHECK(outline.find_step(2, 1)->line == 6);
  CHECK(outline.find_step(3, 4)->line == 14);
  CHECK(outline.find_step(3, 5) == nullptr);
}

// A single stage: buildah prints no stage prefix (stage 0); the escape directive is honoured.
TEST_CASE("dockerfile outline: single stage and escape directive") {
  const auto outline = kiwi::outline_dockerfile(
      "# escape=`\n"
      "FROM base\n"
      "RUN echo a `\n"
      "    b\n"
      "ENV X=1\n");
  CHECK(outline.escape_directive_line == 1);
  CHECK(outline.find_step(0, 2)->line == 3);
  CHECK(outline.find_step(0, 2)->arguments == "echo a  b");
  CHECK(outline.find_step(0, 3)->line == 5);
}

// ---- Reading buildah's output (lines recorded from buildah 1.28.2) ------------------------

// A RUN step that exits non-zero: its exit code and the step.
TEST_CASE("buildah output: a failing RUN step") {
  const auto outline = kiwi::outline_dockerfile(
      "FROM localhost/busybox:latest\nRUN echo before\nRUN echo failing && exit 3\n");
  const auto log =
      log_of({"STEP 1/3: FROM localhost/busybox:latest", "STEP 2/3: RUN echo before", "before",
              "--> 8b564a3f0a5", "STEP 3/3: RUN echo failing && exit 3", "failing",
              "subprocess exited with status 3",
              "Error: building at STEP \"RUN echo failing && exit 3\": exit status 3"});
  const auto e = kiwi::classify_bud_failure(log, outline, 3);
  CHECK(e.code == image_build_errc::step_failed);
  CHECK(e.kind == failure_kind::permanent);
  CHECK(e.exit_code == 3);
  CHECK(e.line == 3);
  CHECK(e.message == "Build step failed (exit code 3): RUN echo failing && exit 3");
}

// Errors buildah reports per step or while parsing name the Dockerfile line.
TEST_CASE("buildah output: Dockerfile errors") {
  const auto unknown = kiwi::classify_bud_failure(
      log_of({"STEP 1/3: FROM localhost/busybox:latest", "STEP 2/3: RUN echo ok", "ok",
              "STEP 3/3: FOOBAR something",
              "Error: building at STEP \"FOOBAR \": Build error: Unknown instruction: \"FOOBAR\" "
              "&imagebuilder.Step{Env:[]string{\"PATH=/bin\"}, Command:\"foobar\"}"}),
      kiwi::outline_dockerfile("FROM localhost/busybox:latest\nRUN echo ok\n\nFOOBAR something\n"),
      125);
  CHECK(unknown.code == image_build_errc::dockerfile_error);
  CHECK(unknown.message == "Dockerfile error at line 4: Unknown instruction: \"FOOBAR\"");

  const auto parse = kiwi::classify_bud_failure(
      log_of({"Error: parsing main Dockerfile: /w/Dockerfile: ENV must have two arguments"}),
      kiwi::outline_dockerfile("FROM x\nENV A=1\nENV B 2\nENV a\n"), 125);
  CHECK(parse.message == "Dockerfile error at line 4: ENV must have two arguments");

  const auto from = kiwi::classify_bud_failure(
      log_of({"Error: FROM requires either one argument, or three: FROM <source> [as <name>]"}),
      kiwi::outline_dockerfile("FROM x AS\nRUN true\n"), 125);
  CHECK(from.message.starts_with("Dockerfile error at line 1: FROM requires"));

  const auto copy = kiwi::classify_bud_failure(
      log_of({"STEP 1/2: FROM localhost/busybox:latest", "STEP 2/2: COPY missing.txt /x",
              "Error: building at STEP \"COPY missing.txt /x\": checking on sources under "
              "\"/w/ctx\": copier: stat: \"/missing.txt\": no such file or directory"}),
      kiwi::outline_dockerfile("FROM localhost/busybox:latest\nCOPY missing.txt /x\n"), 125);
  CHECK(copy.message ==
        "Dockerfile error at line 2: COPY source missing.txt not found in the build context");

  const auto empty = kiwi::classify_bud_failure(log_of({"Error: no contents in \"/w/Dockerfile\""}),
                                                kiwi::outline_dockerfile(""), 125);
  CHECK(empty.message == "Dockerfile error: the Dockerfile is empty");
}

// A base image that cannot be pulled is named, with why; unreachable registries are transient.
TEST_CASE("buildah output: base image pull failures") {
  const auto outline = kiwi::outline_dockerfile("FROM alpine:3\n");
  const auto unreachable = kiwi::classify_bud_failure(
      log_of({"STEP 1/1: FROM alpine:3",
              "Resolved \"alpine\" as an alias (/etc/containers/registries.conf.d/shortnames.conf)",
              "Trying to pull docker.io/library/alpine:3...",
              "Error: creating build container: initializing source docker://alpine:3: pinging "
              "container registry registry-1.docker.io: Get \"https://registry-1.docker.io/v2/\": "
              "dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host"}),
      outline, 125);
  CHECK(unreachable.code == image_build_errc::base_image_unavailable);
  CHECK(unreachable.kind == failure_kind::transient);
  CHECK(unreachable.message ==
        "Base image alpine:3 could not be pulled: registry unreachable (docker.io)");

  const auto missing = kiwi::classify_bud_failure(
      log_of(
          {"STEP 1/1: FROM 127.0.0.1:5055/nope:1", "Trying to pull 127.0.0.1:5055/nope:1...",
           "Error: creating build container: initializing source docker://127.0.0.1:5055/nope:1: "
           "reading manifest 1 in 127.0.0.1:5055/nope: manifest unknown: manifest unknown"}),
      kiwi::outline_dockerfile("FROM 127.0.0.1:5055/nope:1\n"), 125);
  CHECK(missing.kind == failure_kind::permanent);
  CHECK(missing.line == 1);
  CHECK(missing.message ==
        "Base image 127.0.0.1:5055/nope:1 could not be pulled: not found "
        "(check the image name and tag)");
}

// Push errors as containers/image words them (recorded against real and stand-in registries).
TEST_CASE("buildah output: push failures") {
  const std::string prefix =
      "pushing image \"h/team/app:1\" to \"docker://h/team/app:1\": trying to reuse blob "
      "sha256:18788b9d894994f8e772186958f350cc19d7034d5bbc3b4e5b11560dd62a378d at destination: ";
  auto unauthorized = kiwi::classify_push_failure(
      prefix +
          "checking whether a blob sha256:1878 exists in h/team/app: unauthorized: "
          "authentication required",
      "h");
  CHECK(unauthorized.code == image_build_errc::push_unauthorized);
  CHECK(unauthorized.message == "Image push failed: check the registry credentials");

  auto forbidden = kiwi::classify_push_failure(
      prefix + "failed to read from destination repository team/app: 403 (Forbidden)", "h");
  CHECK(forbidden.code == image_build_errc::push_denied);
  CHECK(forbidden.message == "Image push failed: repository not found or no push permission");
  CHECK(kiwi::classify_push_failure("writing blob: initiating layer upload to "
                                    "/v2/team/app/blobs/uploads/ in h: name unknown",
                                    "h")
            .code == image_build_errc::push_denied);
  CHECK(kiwi::classify_push_failure("initiating layer upload to /v2/x/blobs/uploads/ in h: "
                                    "StatusCode: 404, 404 page not found",
                                    "h")
            .code == image_build_errc::push_denied);

  auto unavailable = kiwi::classify_push_failure(
      prefix +
          "pinging container registry h: invalid status code from registry 503 (Service "
          "Unavailable)",
      "h");
  CHECK(unavailable.code == image_build_errc::registry_error);
  CHECK(unavailable.kind == failure_kind::transient);

  auto refused = kiwi::classify_push_failure(
      prefix +
          "pinging container registry 127.0.0.1:5999: Get \"http://127.0.0.1:5999/v2/\": "
          "dial tcp 127.0.0.1:5999: connect: connection refused",
      "127.0.0.1:5999");
  CHECK(refused.code == image_build_errc::registry_unreachable);
  CHECK(refused.kind == failure_kind::transient);
  CHECK(refused.message == "Image push failed: registry unreachable (127.0.0.1:5999)");

  auto plain = kiwi::classify_push_failure(
      prefix +
          "pinging container registry h: Get \"https://h/v2/\": http: server gave HTTP "
          "response to HTTPS client",
      "h");
  CHECK(plain.code == image_build_errc::registry_tls);
  CHECK(plain.kind == failure_kind::permanent);
}

// ---- Real builds: buildah 1.28 on the local busybox base, docker-registry 2.8 ---------------

// A build that prints a marker, pushed to a real registry: the digest buildah reports is the
// one the registry serves, and the credentials directory is gone afterwards.
TEST_CASE("buildah backend: build and push") {
  test::registry_server registry;
  const std::string marker = "kiwi-marker-" + random_suffix();
  build_fixture f(
      "FROM localhost/busybox:latest\n"
      "ARG MARKER\n"
      "COPY hello.txt /hello.txt\n"
      "RUN echo \"$MARKER\" && cat /hello.txt\n");
  f.request.build_args = {{"MARKER", marker}};
  f.use_registry("http://" + registry.host(), registry.user(), registry.password(), "team/app");

  // While buildah runs, the auth file exists with mode 0600 in a 0700 directory.
  std::atomic<bool> checked{false};
  std::atomic<bool> private_modes{false};
  auto collect = f.log.sink();
  f.request.on_line = [&](std::string_view line) {
    collect(line);
    if (!checked.exchange(true)) {
      for (const auto& d : fs::directory_iterator(f.dir.path() / "tmp")) {
        struct stat dir_stat {};
        struct stat file_stat {};
        private_modes = ::stat(d.path().c_str(), &dir_stat) == 0 &&
                        (dir_stat.st_mode & 0777) == 0700 &&
                        ::stat((d.path() / "auth.json").c_str(), &file_stat) == 0 &&
                        (file_stat.st_mode & 0777) == 0600;
      }
    }
  };

  const auto outcome = kiwi::run_buildah_build(f.request);
  const auto& result = result_of(outcome);
  CHECK(f.log.contains(marker));
  CHECK(f.log.contains("hello"));
  CHECK(result.image_id.starts_with("sha256:"));
  REQUIRE(result.digest.starts_with("sha256:"));
  const std::string tag = f.request.references[0].substr(f.request.references[0].rfind(':') + 1);
  CHECK(registry.manifest_digest("team/app", tag) == result.digest);
  CHECK(private_modes);
  CHECK(f.temp_root_empty());
  CHECK_FALSE(f.log.contains(registry.password()));
}

// Without a registry the image is only built and tagged locally.
TEST_CASE("buildah backend: build only") {
  build_fixture f("FROM localhost/busybox:latest\nRUN echo built-only\n");
  const auto& result = result_of(kiwi::run_buildah_build(f.request));
  CHECK(result.digest.empty());
  CHECK(result.image_id.starts_with("sha256:"));
  std::vector<std::string> inspect = kiwi::buildah_argv(f.request.storage);
  inspect.insert(inspect.end(),
                 {"inspect", "--format", "{{.FromImageID}}", f.request.references[0]});
  CHECK("sha256:" + test::trimmed(test::run(inspect)) == result.image_id);
  CHECK(f.temp_root_empty());
}

// A RUN step exiting 3: the step, its exit code, its line and the last lines of output.
TEST_CASE("buildah backend: a failing RUN step") {
  build_fixture f(
      "FROM localhost/busybox:latest\n"
      "RUN echo before\n"
      "RUN i=0; while [ $i -lt 30 ]; do echo out$i; i=$((i+1)); done; exit 3\n");
  const auto outcome = kiwi::run_buildah_build(f.request);
  const auto& e = error_of(outcome);
  CHECK(e.code == image_build_errc::step_failed);
  CHECK(e.kind == failure_kind::permanent);
  CHECK(e.exit_code == 3);
  CHECK(e.line == 3);
  CHECK(e.message.starts_with("Build step failed (exit code 3): RUN i=0;"));
  CHECK(e.last_lines.size() == 20);
  CHECK(contains(e.last_lines, "out29"));
  CHECK(f.temp_root_empty());
}

// A syntax error names its line.
TEST_CASE("buildah backend: Dockerfile syntax errors") {
  build_fixture unknown(
      "FROM localhost/busybox:latest\nRUN echo ok\n# comment\nFOOBAR something\n");
  const auto& e = error_of(kiwi::run_buildah_build(unknown.request));
  CHECK(e.code == image_build_errc::dockerfile_error);
  CHECK(e.message == "Dockerfile error at line 4: Unknown instruction: \"FOOBAR\"");

  build_fixture parse("FROM localhost/busybox:latest\nENV A=1\nLABEL a\n");
  const auto& p = error_of(kiwi::run_buildah_build(parse.request));
  CHECK(p.code == image_build_errc::dockerfile_error);
  CHECK(p.message == "Dockerfile error at line 3: LABEL must have two arguments");

  build_fixture missing("FROM localhost/busybox:latest\nCOPY nothere.txt /x\n");
  CHECK(error_of(kiwi::run_buildah_build(missing.request)).message ==
        "Dockerfile error at line 2: COPY source nothere.txt not found in the build context");

  build_fixture no_file("FROM localhost/busybox:latest\n");
  no_file.request.dockerfile = "docker/Dockerfile.prod";
  CHECK(error_of(kiwi::run_buildah_build(no_file.request)).message ==
        "Dockerfile not found: docker/Dockerfile.prod");
  no_file.request.dockerfile = "../../etc/passwd";
  CHECK(error_of(kiwi::run_buildah_build(no_file.request)).code ==
        image_build_errc::dockerfile_error);
}

// A base image that does not exist is named; an unreachable registry is transient.
TEST_CASE("buildah backend: base image cannot be pulled") {
  test::registry_server registry;
  build_fixture f("FROM " + registry.host() + "/no/such-base:1\nRUN true\n");
  f.use_registry("http://" + registry.host(), registry.user(), registry.password(), "team/app");
  const auto& e = error_of(kiwi::run_buildah_build(f.request));
  CHECK(e.code == image_build_errc::base_image_unavailable);
  CHECK(e.kind == failure_kind::permanent);
  CHECK(e.message == "Base image " + registry.host() +
                         "/no/such-base:1 could not be pulled: not found (check the image name "
                         "and tag)");

  const std::string closed = "127.0.0.1:" + std::to_string(test::free_port());
  build_fixture down("FROM " + closed + "/base:1\n");
  down.use_registry("http://" + closed, "u", "password", "team/app");
  const auto& d = error_of(kiwi::run_buildah_build(down.request));
  CHECK(d.code == image_build_errc::base_image_unavailable);
  CHECK(d.kind == failure_kind::transient);
  CHECK(d.message == "Base image " + closed +
                         "/base:1 could not be pulled: registry unreachable (" + closed + ")");
}

// A wrong password: the credentials message, the password nowhere, the auth file gone.
TEST_CASE("buildah backend: wrong registry password") {
  test::registry_server registry;
  build_fixture f("FROM localhost/busybox:latest\nRUN echo pw\n");
  const std::string wrong = "Wr0ng-Passw0rd";
  f.use_registry("http://" + registry.host(), registry.user(), wrong, "team/app");
  const auto& e = error_of(kiwi::run_buildah_build(f.request));
  CHECK(e.code == image_build_errc::push_unauthorized);
  CHECK(e.kind == failure_kind::permanent);
  CHECK(e.message == "Image push failed: check the registry credentials");
  CHECK_FALSE(f.log.contains(wrong));
  CHECK_FALSE(f.log.contains(kiwi::base64_encode(registry.user() + ":" + wrong)));
  CHECK(f.temp_root_empty());
}

// Push failures other than credentials: unreachable and 5xx are transient; TLS mismatch, 403
// and 404 permanent.
TEST_CASE("buildah backend: registry unreachable, plain http, 403, 404 and 503") {
  const std::string closed = "127.0.0.1:" + std::to_string(test::free_port());
  build_fixture down("FROM localhost/busybox:latest\n");
  down.use_registry("http://" + closed, "u", "password", "team/app");
  const auto& d = error_of(kiwi::run_buildah_build(down.request));
  CHECK(d.code == image_build_errc::registry_unreachable);
  CHECK(d.kind == failure_kind::transient);
  CHECK(d.message == "Image push failed: registry unreachable (" + closed + ")");

  // An https push to a plain-http registry that is not marked insecure.
  test::registry_server registry;
  build_fixture plain("FROM localhost/busybox:latest\n");
  plain.use_registry(registry.host(), registry.user(), registry.password(), "team/app");
  plain.request.registry->insecure = false;
  const auto& p = error_of(kiwi::run_buildah_build(plain.request));
  CHECK(p.code == image_build_errc::registry_tls);
  CHECK(p.kind == failure_kind::permanent);
  CHECK(p.message == "Image push failed: registry " + registry.host() +
                         ": it speaks plain HTTP; mark the registry as insecure");

  struct expectation {
    int status;
    std::string body;
    image_build_errc code;
    failure_kind kind;
  };
  const std::vector<expectation> cases = {
      {403,
       R"({"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]})",
       image_build_errc::push_denied, failure_kind::permanent},
      {404,
       R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]})",
       image_build_errc::push_denied, failure_kind::permanent},
      {503, "unavailable", image_build_errc::registry_error, failure_kind::transient},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    test::fixed_status_registry stand_in(c.status, c.body);
    build_fixture f("FROM localhost/busybox:latest\n");
    f.use_registry("http://" + stand_in.host(), "u", "password", "team/app");
    const auto& e = error_of(kiwi::run_buildah_build(f.request));
    CHECK(e.code == c.code);
    CHECK(e.kind == c.kind);
    CHECK(stand_in.answered() > 0);
    if (c.code == image_build_errc::push_denied) {
      CHECK(e.message == "Image push failed: repository not found or no push permission");
    }
  }
}

// A cancel during a long RUN returns within about 2 s, and nothing of the build survives: no
// process, no working container, no credentials directory.
TEST_CASE("buildah backend: cancel mid-build") {
  build_fixture f("FROM localhost/busybox:latest\nRUN echo started && sleep 347\n");
  std::atomic<bool> cancel{false};
  f.request.cancel = &cancel;
  std::atomic<steady::rep> cancelled_at{0};
  std::thread canceller([&] {
    for (int i = 0; i < 3000 && !f.log.has_line("started"); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    cancelled_at = steady::now().time_since_epoch().count();
    cancel = true;
  });
  std::vector<std::string> containers = kiwi::buildah_argv(f.request.storage);
  containers.insert(containers.end(), {"containers", "--all", "--quiet"});
  const std::string containers_before = test::run(containers);
  const auto outcome = kiwi::run_buildah_build(f.request);
  const auto returned = steady::now();
  canceller.join();
  CHECK(test::run(containers) == containers_before);  // buildah removed its working container
  const auto& e = error_of(outcome);
  CHECK(e.code == image_build_errc::cancelled);
  CHECK(f.log.has_line("started"));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      returned - steady::time_point(steady::duration(cancelled_at.load())));
  MESSAGE("the build returned " << took.count() << " ms after the cancel request");
  CHECK(took < 2500ms);
  bool survivors = true;
  for (int i = 0; i < 100 && survivors; ++i) {
    survivors = process_with("sleep 347") || process_with(f.request.storage.root.string() + " ");
    std::this_thread::sleep_for(10ms);
  }
  CHECK_FALSE(survivors);
  CHECK(f.temp_root_empty());
}

// The redactor is applied to build output: a secret build argument never reaches the log.
TEST_CASE("buildah backend: secrets are masked in the output") {
  build_fixture f("FROM localhost/busybox:latest\nARG TOKEN\nRUN echo \"token is $TOKEN\"\n");
  const std::string token = "tok-" + random_suffix() + "-secret";
  f.request.build_args = {{"TOKEN", token}};
  f.request.secrets = {token};
  result_of(kiwi::run_buildah_build(f.request));
  CHECK(f.log.contains("token is ***"));
  CHECK_FALSE(f.log.contains(token));
}

// Working containers left in the storage are removed.
TEST_CASE("buildah backend: leftover working containers are removed") {
  const kiwi::buildah_storage& storage = test::busybox_storage();
  std::vector<std::string> from = kiwi::buildah_argv(storage);
  from.insert(from.end(), {"from", test::busybox_image});
  test::run(from);
  std::vector<std::string> containers = kiwi::buildah_argv(storage);
  containers.insert(containers.end(), {"containers", "--all", "--quiet"});
  REQUIRE_FALSE(test::trimmed(test::run(containers)).empty());
  CHECK(kiwi::remove_build_containers(storage).empty());
  CHECK(test::trimmed(test::run(containers)).empty());
}
