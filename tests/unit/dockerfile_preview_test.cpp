// kiwid's Dockerfile preview as a function: it fetches the ref into its own bare mirror from real
// git servers (file://, lighttpd + git-http-backend with a token) and answers what a build would
// use, or why not, in the words the build and the connection test use.

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "daemon/dockerfile_preview.hpp"
#include "tests/unit/git_servers.hpp"

namespace test = kiwi::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const fs::path wizard_fixtures = fs::path(KIWI_FIXTURES_DIR) / "wizard";
const std::string token = "glpat-preview-t0ken-9f3e";

kiwi::dockerfile_preview_request make_request(const test::temp_dir& dir, const std::string& url) {
  kiwi::dockerfile_preview_request r;
  r.service.name = "app";
  r.service.git_url = url;
  r.service.branch = "main";
  r.mirror_dir = dir.path() / "data" / "preview-mirrors" / "app.git";
  r.timeout = 20s;
  return r;
}

const kiwi::dockerfile_preview& success(const kiwi::dockerfile_preview_outcome& outcome) {
  if (const auto* e = std::get_if<kiwi::dockerfile_preview_error>(&outcome)) {
    FAIL("preview failed (" << e->kind << "): " << e->message);
  }
  return std::get<kiwi::dockerfile_preview>(outcome);
}

kiwi::dockerfile_preview_error failure(const kiwi::dockerfile_preview_outcome& outcome) {
  REQUIRE(std::holds_alternative<kiwi::dockerfile_preview_error>(outcome));
  return std::get<kiwi::dockerfile_preview_error>(outcome);
}

std::map<std::string, std::string> fixture_files(const std::string& name) {
  const fs::path folder = wizard_fixtures / name / "repo";
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) {
      files[entry.path().lexically_relative(folder).generic_string()] =
          test::read_file(entry.path());
    }
  }
  return files;
}

}  // namespace

TEST_CASE("preview: the wizard's Dockerfile for the branch head, then a known commit unfetched") {
  test::temp_dir dir("kiwi-preview");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(fixture_files("node-yarn-express"), "express app");
  auto request = make_request(dir, repo.file_url());
  request.service.dockerfile.mode = "wizard";

  const auto first = success(kiwi::preview_dockerfile(request));
  CHECK(first.ref == "refs/heads/main");
  CHECK(first.sha == sha);
  CHECK(first.fetched);
  CHECK(first.mode == "wizard");
  CHECK(first.dockerfile_path == ".kiwi/Dockerfile");
  CHECK(first.dockerfile == test::read_file(wizard_fixtures / "node-yarn-express" / "Dockerfile"));
  CHECK(first.dockerignore ==
        test::read_file(wizard_fixtures / "node-yarn-express" / ".dockerignore"));
  CHECK_FALSE(first.repository_dockerignore);
  CHECK(first.generated_by == "node/express via yarn");
  CHECK(first.language == "node");
  CHECK(first.framework == "express");
  CHECK(first.package_manager == "yarn");
  CHECK(fs::exists(request.mirror_dir / "HEAD"));  // a bare mirror

  // A commit the mirror has is not fetched again; the configured images are used.
  request.ref = sha;
  request.images.node = "registry.local/node:20@sha256:" + std::string(64, 'a');
  const auto again = success(kiwi::preview_dockerfile(request));
  CHECK_FALSE(again.fetched);
  CHECK(again.ref.empty());
  CHECK(again.dockerfile.find("FROM registry.local/node:20@sha256:") != std::string::npos);
}

TEST_CASE("preview: a mirror that piled up packs is repacked, and previews go on") {
  test::temp_dir dir("kiwi-preview");
  test::test_repo repo(dir.path(), "app");
  auto request = make_request(dir, repo.file_url());
  request.max_packs = 2;
  auto packs = [&] {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(request.mirror_dir / "objects" / "pack")) {
      n += e.path().extension() == ".pack";
    }
    return n;
  };
  std::size_t most = 0;
  for (int i = 0; i < 4; ++i) {  // each preview of a new push fetches one more pack
    const std::string body = "FROM busybox\nRUN echo " + std::to_string(i) + "\n";
    const std::string sha = repo.commit({{"Dockerfile", body}}, "push");
    const auto p = success(kiwi::preview_dockerfile(request));
    CHECK(p.sha == sha);
    CHECK(p.dockerfile == body);
    most = std::max(most, packs());
  }
  CHECK(most <= 2);
}

TEST_CASE("preview: overrides, mode auto and path, a new push, tags and unknown refs") {
  test::temp_dir dir("kiwi-preview");
  test::test_repo repo(dir.path(), "app");
  repo.commit({{"Dockerfile", "FROM busybox\nRUN echo root\n"},
               {"docker/api.Dockerfile", "FROM busybox\nRUN echo api\n"},
               {"go.mod", "module example.com/api\n\ngo 1.22\n"},
               {"main.go", "package main\n\nfunc main() {}\n"},
               {"package.json",
                R"({"scripts":{"start":"node server.js"},"dependencies":{"express":"^4.19.2"}})"},
               {"server.js", "require('express')().listen(3000);\n"}},
              "first");
  repo.git({"tag", "v1.0.0"});
  repo.git({"push", "-q", "origin", "v1.0.0"});
  const std::string tagged = repo.rev_parse("HEAD");
  auto request = make_request(dir, repo.file_url());

  // The service's default mode: the root Dockerfile.
  auto root = success(kiwi::preview_dockerfile(request));
  CHECK(root.mode == "auto");
  CHECK(root.dockerfile_path == "Dockerfile");
  CHECK(root.context == ".");
  CHECK(root.dockerfile == "FROM busybox\nRUN echo root\n");
  CHECK(root.generated_by.empty());

  // Wizard choices given: the wizard, with them, even though the service is mode auto.
  request.language = "node";
  auto node = success(kiwi::preview_dockerfile(request));
  CHECK(node.mode == "wizard");
  CHECK(node.language == "node");
  CHECK(node.framework == "express");
  request.language.reset();
  request.mode = "wizard";  // detected: go wins over package.json
  auto go = success(kiwi::preview_dockerfile(request));
  CHECK(go.language == "go");
  CHECK(go.generated_by.find("also found package.json") != std::string::npos);

  request.mode = "path";
  request.service.dockerfile.path = "docker/api.Dockerfile";
  auto path = success(kiwi::preview_dockerfile(request));
  CHECK(path.dockerfile_path == "docker/api.Dockerfile");
  CHECK(path.dockerfile == "FROM busybox\nRUN echo api\n");
  request.service.dockerfile.path = "docker/web.Dockerfile";
  auto missing = failure(kiwi::preview_dockerfile(request));
  CHECK(missing.kind == "dockerfile");
  CHECK(missing.field == "dockerfile.path");
  CHECK(missing.sha == tagged);
  CHECK(missing.message.starts_with("Dockerfile not found or not usable (dockerfile.path): "));
  CHECK(missing.message.find("docker/api.Dockerfile") != std::string::npos);

  // A push after the first preview is fetched; the tag still shows the old commit.
  request.mode = "";
  const std::string newer = repo.commit({{"Dockerfile", "FROM busybox\nRUN echo newer\n"}});
  auto fresh = success(kiwi::preview_dockerfile(request));
  CHECK(fresh.sha == newer);
  CHECK(fresh.dockerfile == "FROM busybox\nRUN echo newer\n");
  request.ref = "v1.0.0";
  auto tag = success(kiwi::preview_dockerfile(request));
  CHECK(tag.ref == "refs/tags/v1.0.0");
  CHECK(tag.sha == tagged);
  request.ref = "refs/heads/main";
  CHECK(success(kiwi::preview_dockerfile(request)).sha == newer);

  request.ref = "feature/nope";
  auto unknown = failure(kiwi::preview_dockerfile(request));
  CHECK(unknown.kind == "ref_not_found");
  CHECK(unknown.field == "ref");
  CHECK(unknown.message ==
        "ref: the repository has no branch or tag \"feature/nope\"; its branches: main");
  request.ref = std::string(40, '1');
  CHECK(failure(kiwi::preview_dockerfile(request)).message ==
        "ref: commit " + std::string(40, '1') + " is not in the repository; its branches: main");

  // The wizard cannot tell what to build: the message names the setting.
  test::test_repo empty(dir.path(), "docs");
  empty.commit({{"README.md", "just docs\n"}});
  auto docs = make_request(dir, empty.file_url());
  docs.mirror_dir = dir.path() / "data" / "preview-mirrors" / "docs.git";
  docs.mode = "wizard";
  auto undetected = failure(kiwi::preview_dockerfile(docs));
  CHECK(undetected.kind == "dockerfile");
  CHECK(undetected.field == "dockerfile");
  CHECK(undetected.message.starts_with("Dockerfile wizard (dockerfile): the wizard found no "
                                       "project"));
  CHECK(undetected.message.find("Set dockerfile.language") != std::string::npos);
}

TEST_CASE("preview over smart HTTP: the token fetches, a wrong one says so without itself") {
  test::temp_dir dir("kiwi-preview");
  test::test_repo repo(dir.path(), "app");
  // A careless Dockerfile carrying the token: shown masked.
  const std::string sha =
      repo.commit({{"Dockerfile", "FROM busybox\nARG T=" + token + "\nRUN echo hi\n"}});
  test::git_http_server web(dir.path() / "lighttpd", dir.path() / "repos", "user", token);

  auto request = make_request(dir, web.url("app"));
  request.service.git_username = "user";
  request.service.token = token;
  request.secrets.add(token);
  const auto ok = success(kiwi::preview_dockerfile(request));
  CHECK(ok.sha == sha);
  CHECK(ok.dockerfile == "FROM busybox\nARG T=***\nRUN echo hi\n");

  auto wrong = make_request(dir, web.url("app"));
  wrong.mirror_dir = dir.path() / "data" / "preview-mirrors" / "wrong.git";
  wrong.service.git_username = "user";
  wrong.service.token = "wrong-" + token;
  wrong.secrets.add(wrong.service.token);
  const auto start = std::chrono::steady_clock::now();
  const auto refused = failure(kiwi::preview_dockerfile(wrong));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(refused.kind == "authentication");
  CHECK(refused.message ==
        "Authentication failed: check that the token hasn't expired and has read_repository "
        "permission");
  CHECK(refused.message.find(token) == std::string::npos);

  auto missing = make_request(dir, web.url("missing"));
  missing.mirror_dir = dir.path() / "data" / "preview-mirrors" / "missing.git";
  missing.service.git_username = "user";
  missing.service.token = token;
  CHECK(failure(kiwi::preview_dockerfile(missing)).kind == "not_found");

  auto refused_port = make_request(dir, "http://127.0.0.1:" + std::to_string(test::free_port()) +
                                            "/git/app.git");
  refused_port.mirror_dir = dir.path() / "data" / "preview-mirrors" / "down.git";
  const auto down = failure(kiwi::preview_dockerfile(refused_port));
  CHECK((down.kind == "timeout" || down.kind == "other"));
}
