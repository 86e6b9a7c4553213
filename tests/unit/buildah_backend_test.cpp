#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/build/image_reference.hpp"  // image_reference
#include "tests/unit/base_image.hpp"
#include "tests/unit/git_servers.hpp"
#include "tests/unit/registry_server.hpp"
#include "worker/buildah_backend.hpp"

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

}  // namespace

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
