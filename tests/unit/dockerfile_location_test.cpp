// The build stage's Dockerfile, modes auto and path: the file found stays inside the checkout,
// and every refusal says what to write instead. directory_view reads the checkout.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <variant>

#include "common/build/dockerfile.hpp"
#include "common/config/resources.hpp"
#include "common/git/repo_view.hpp"
#include "tests/unit/dockerfile_checks.hpp"
#include "tests/unit/memory_view.hpp"
#include "tests/unit/test_process.hpp"

namespace fs = std::filesystem;
using kiwi::test::memory_view;

using kiwi::test::contains;
using kiwi::test::error_of;

TEST_CASE("auto: the root Dockerfile, else the error lists the ones found elsewhere") {
  auto found = kiwi::locate_root_dockerfile(
      memory_view({{"Dockerfile", ""}, {"docker/Dockerfile.dev", ""}}));
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(found));
  CHECK(std::get<kiwi::dockerfile_location>(found).path == "Dockerfile");
  CHECK(std::get<kiwi::dockerfile_location>(found).context == ".");

  auto e = error_of(kiwi::locate_root_dockerfile(memory_view({{"services/web/web.Dockerfile", ""},
                                                              {"api/Dockerfile", ""},
                                                              {"Dockerfile.prod", ""},
                                                              {"README.md", ""},
                                                              {"docs/dockerfiles.md", ""}})));
  CHECK(e.field == "dockerfile");
  // Shallowest first: the suggestion is the likeliest one.
  CHECK(contains(e.message, "found Dockerfile.prod, api/Dockerfile, services/web/web.Dockerfile."));
  CHECK(contains(e.message, R"("dockerfile": {"mode":"path","path":"Dockerfile.prod"})"));
  CHECK(contains(e.message, R"({"mode":"wizard"})"));
  CHECK_FALSE(contains(e.message, "dockerfiles.md"));

  memory_view many;
  for (int i = 0; i < 14; ++i) {
    many.add("svc" + std::to_string(10 + i) + "/Dockerfile", "");
  }
  e = error_of(kiwi::locate_root_dockerfile(many));
  CHECK(contains(e.message, "svc19/Dockerfile (and 4 more)"));
  CHECK_FALSE(contains(e.message, "svc20/"));

  e = error_of(kiwi::locate_root_dockerfile(memory_view({{"main.go", ""}})));
  CHECK(contains(e.message, "no Dockerfile in the repository"));
  CHECK(contains(e.message, R"({"mode":"wizard"})"));
}

// Found by the dockerfile_wizard fuzz target: a Dockerfile elsewhere whose name is not UTF-8
// made the error's JSON advice throw instead of answer.
TEST_CASE("auto: a Dockerfile name that is not UTF-8 is named in the error, not thrown on") {
  auto e = error_of(kiwi::locate_root_dockerfile(memory_view({{"x\xff\x36/Dockerfile", ""}})));
  CHECK(contains(e.message, "no Dockerfile at the repository root"));
  CHECK(contains(e.message, "\"path\":\"x\xef\xbf\xbd" "6/Dockerfile\""));
}

TEST_CASE("path: the Dockerfile and the context must stay inside the checkout") {
  kiwi::test::temp_dir t("kiwi-dockerfile");
  const fs::path repo = t.path() / "repo";
  const fs::path outside = t.path() / "outside";
  kiwi::test::write_file(repo / "docker" / "api.Dockerfile", "FROM scratch\n");
  kiwi::test::write_file(repo / "services" / "api" / "main.go", "");
  kiwi::test::write_file(outside / "Dockerfile", "FROM scratch\n");
  fs::create_symlink(outside / "Dockerfile", repo / "escape.Dockerfile");
  fs::create_symlink(outside, repo / "linked");
  fs::create_symlink("docker/api.Dockerfile", repo / "Dockerfile");  // inside: allowed
  fs::create_symlink(repo / "missing", repo / "dangling");

  auto ok = kiwi::resolve_dockerfile_path(repo, "./docker//api.Dockerfile", "services/api/");
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(ok));
  CHECK(std::get<kiwi::dockerfile_location>(ok).path == "docker/api.Dockerfile");
  CHECK(std::get<kiwi::dockerfile_location>(ok).context == "services/api");
  auto root = kiwi::resolve_dockerfile_path(repo, "Dockerfile", "");
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(root));
  CHECK(std::get<kiwi::dockerfile_location>(root).context == ".");

  auto path_error = [&](std::string_view path) {
    auto e = error_of(kiwi::resolve_dockerfile_path(repo, path, "."));
    CHECK(e.field == "dockerfile.path");
    return e.message;
  };
  CHECK(contains(path_error("/etc/passwd"), "relative to the repository"));
  CHECK(contains(path_error("docker/../../outside/Dockerfile"), "no \"..\""));
  CHECK(contains(path_error("escape.Dockerfile"), "outside the repository"));
  CHECK(contains(path_error("linked/Dockerfile"), "outside the repository"));
  CHECK(contains(path_error("dangling"), "symbolic link to nothing"));
  CHECK(contains(path_error("docker"), "not a file"));
  CHECK(contains(path_error(""), "is required"));
  const std::string missing = path_error("api/Dockerfile");
  CHECK(contains(missing, "\"api/Dockerfile\" does not exist"));
  CHECK(contains(missing, "Dockerfiles found: docker/api.Dockerfile"));

  auto context_error = [&](std::string_view context) {
    auto e = error_of(kiwi::resolve_dockerfile_path(repo, "docker/api.Dockerfile", context));
    CHECK(e.field == "dockerfile.context");
    return e.message;
  };
  CHECK(contains(context_error(".."), "no \"..\""));
  CHECK(contains(context_error("/"), "relative to the repository"));
  CHECK(contains(context_error("linked"), "outside the repository"));
  CHECK(contains(context_error("docker/api.Dockerfile"), "must be a folder"));
  CHECK(contains(context_error("web"), "not a folder in the repository"));
}

TEST_CASE("directory_view lists and reads regular files inside the checkout only") {
  kiwi::test::temp_dir t("kiwi-dockerfile");
  const fs::path repo = t.path() / "repo";
  kiwi::test::write_file(repo / "package.json", "{}");
  kiwi::test::write_file(repo / "src" / "index.js", "x");
  kiwi::test::write_file(repo / ".git" / "config", "[core]");
  kiwi::test::write_file(repo / "big.bin", std::string(100, 'x'));
  kiwi::test::write_file(t.path() / "secret", "s3cret");
  fs::create_symlink(t.path() / "secret", repo / "link");
  fs::create_symlink(t.path(), repo / "up");

  kiwi::directory_view view(repo);
  CHECK(view.files() == std::vector<std::string>{"big.bin", "package.json", "src/index.js"});
  CHECK(view.read("src/index.js", 10) == "x");
  CHECK(view.read("big.bin", 99) == std::nullopt);
  CHECK(view.read("big.bin", 100) == std::string(100, 'x'));
  CHECK(view.read("link", 100) == std::nullopt);
  CHECK(view.read("up/secret", 100) == std::nullopt);
  CHECK(view.read("../secret", 100) == std::nullopt);
  CHECK(view.read(".git/config", 100) == std::nullopt);
  CHECK(view.read("/etc/hostname", 100) == std::nullopt);
  CHECK(view.read("src", 100) == std::nullopt);
  CHECK(kiwi::directory_view(repo, 2).files().size() == 2);
}
