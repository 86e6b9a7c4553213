// The pure parts of the buildah backend: registry URLs and image references, the Dockerfile
// outline, and the reading of buildah's output into failure classes. No buildah runs here.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/build/image_reference.hpp"
#include "worker/buildah_output.hpp"
#include "worker/registry_errors.hpp"
#include "worker/dockerfile_outline.hpp"

using kiwi::failure_kind;
using kiwi::image_build_errc;

namespace {

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
