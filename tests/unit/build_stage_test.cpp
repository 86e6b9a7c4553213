// The build stage's writes into a checkout: the wizard's Dockerfile and .dockerignore never go
// through a symbolic link committed to the repository (issue 14, item 3).

#include <doctest/doctest.h>

#include "tests/unit/git_servers.hpp"
#include "worker/build_stage.hpp"

namespace test = kiwi::test;
namespace fs = std::filesystem;

namespace {

// A checkout of the node/express wizard fixture, and a directory outside it standing for the
// rest of the host.
struct wizard_checkout {
  test::temp_dir dir{"kiwi-build-stage"};
  fs::path repo = dir.path() / "repo";
  fs::path outside = dir.path() / "host";
  kiwi::build_stage_request request;

  wizard_checkout() {
    fs::copy(fs::path(KIWI_FIXTURES_DIR) / "wizard" / "node-yarn-express" / "repo", repo,
             fs::copy_options::recursive);
    fs::create_directories(outside);
    request.service.name = "shop";
    request.service.dockerfile.mode = "wizard";
    request.workspace = repo;
    request.ref = "refs/heads/main";
    request.sha = std::string(40, 'a');
    // No storage: a build that got past the writes would fail at once without running buildah.
  }

  std::string failure() {
    auto outcome = kiwi::run_build_stage(request);
    REQUIRE(std::holds_alternative<kiwi::build_stage_failure>(outcome));
    return std::get<kiwi::build_stage_failure>(outcome).message;
  }
};

}  // namespace

// .kiwi/Dockerfile linked to a host file: the host file keeps its content.
TEST_CASE("wizard: a .kiwi/Dockerfile link to a host file is refused, the file untouched") {
  wizard_checkout c;
  test::write_file(c.outside / "important.conf", "host data\n");
  fs::create_directories(c.repo / ".kiwi");
  fs::create_symlink(c.outside / "important.conf", c.repo / ".kiwi" / "Dockerfile");
  const std::string message = c.failure();
  CHECK(message.find("The repository's .kiwi/Dockerfile is a symbolic link") !=
        std::string::npos);
  CHECK(test::read_file(c.outside / "important.conf") == "host data\n");
}

// A dangling .dockerignore link: nothing is created where it points.
TEST_CASE("wizard: a dangling .dockerignore link is refused, nothing created through it") {
  wizard_checkout c;
  fs::create_symlink(c.outside / "created-by-kiwi", c.repo / ".dockerignore");
  const std::string message = c.failure();
  CHECK(message.find("The repository's .dockerignore is a symbolic link") != std::string::npos);
  CHECK_FALSE(fs::exists(fs::symlink_status(c.outside / "created-by-kiwi")));
}

// A .kiwi directory link: no Dockerfile appears in the directory it points to.
TEST_CASE("wizard: a .kiwi link to a host directory is refused, nothing written there") {
  wizard_checkout c;
  fs::create_directory_symlink(c.outside, c.repo / ".kiwi");
  const std::string message = c.failure();
  CHECK(message.find("The repository's .kiwi is a symbolic link") != std::string::npos);
  CHECK(fs::is_empty(c.outside));
}

// Without links the wizard writes both files; a repository's own .dockerignore is kept.
TEST_CASE("wizard: without links both files are written, the repository's .dockerignore kept") {
  wizard_checkout c;
  test::write_file(c.repo / ".dockerignore", "own\n");
  const std::string message = c.failure();  // no buildah storage: fails after the writes
  CHECK(message.find("symbolic link") == std::string::npos);
  CHECK(test::read_file(c.repo / ".kiwi" / "Dockerfile").find("FROM ") != std::string::npos);
  CHECK(test::read_file(c.repo / ".dockerignore") == "own\n");
}
