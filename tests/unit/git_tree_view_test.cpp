// git_tree_view reads a commit's tree from a bare repository made by git itself: it sees what a
// directory_view of the checkout sees (regular files; no symbolic links, submodules or .git), and
// the Dockerfile wizard gives the same golden files over it as over the checkout.

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "common/build/dockerfile.hpp"
#include "common/git/git.hpp"
#include "common/git/git_tree_view.hpp"
#include "common/git/repo_view.hpp"
#include "tests/unit/git_servers.hpp"

namespace test = kiwi::test;
namespace git = kiwi::git;
namespace fs = std::filesystem;

namespace {

const fs::path wizard_fixtures = fs::path(KIWI_FIXTURES_DIR) / "wizard";

git::repository open_bare(const fs::path& bare) {
  git::ensure_initialised();
  git::repository repo;
  git::check(git_repository_open_bare(git::out_ptr(repo), bare.c_str()));
  return repo;
}

kiwi::git_tree_view view_at(const git::repository& repo, const std::string& sha,
                            std::size_t max_files = 100000) {
  git_oid id;
  REQUIRE(git_oid_fromstr(&id, sha.c_str()) == 0);
  git::commit commit;
  git::tree tree;
  git::check(git_commit_lookup(git::out_ptr(commit), repo.get(), &id));
  git::check(git_commit_tree(git::out_ptr(tree), commit.get()));
  return kiwi::git_tree_view(std::move(tree), max_files);
}

// Commits every file of a fixture folder.
std::string commit_folder(test::test_repo& repo, const fs::path& folder) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) {
      files[entry.path().lexically_relative(folder).generic_string()] =
          test::read_file(entry.path());
    }
  }
  return repo.commit(files, "fixture");
}

}  // namespace

TEST_CASE("a git tree view lists and reads regular files only, like the checkout's view") {
  test::temp_dir dir("kiwi-tree-view");
  test::test_repo repo(dir.path(), "app");
  repo.commit({{"README.md", "hello kiwi\n"},
               {"src/main.c", "int main(void) { return 0; }\n"},
               {"docs/a/b/deep.txt", "deep\n"},
               {"run.sh", "#!/bin/sh\necho run\n"}},
              "first");
  fs::permissions(repo.work() / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
  fs::create_symlink("README.md", repo.work() / "link-to-readme");
  fs::create_symlink("src", repo.work() / "srclink");
  fs::create_symlink("/etc/passwd", repo.work() / "outside");
  const std::string second = repo.commit({}, "links and an executable");
  // A submodule: a gitlink entry, which has no blob in this repository.
  repo.git({"update-index", "--add", "--cacheinfo", "160000," + second + ",vendor/lib"});
  repo.git({"commit", "-q", "-m", "a submodule"});
  repo.git({"push", "-q", "origin", "HEAD"});
  const std::string head = repo.rev_parse("HEAD");
  CHECK(test::run({"git", "--git-dir=" + repo.bare().string(), "ls-tree", "-r", head})
            .find("160000 commit") != std::string::npos);

  const auto bare = open_bare(repo.bare());
  const auto view = view_at(bare, head);
  const std::vector<std::string> expected = {"README.md", "docs/a/b/deep.txt", "run.sh",
                                             "src/main.c"};
  CHECK(view.files() == expected);
  // What the worker's view of the checkout lists (the work tree is that checkout, plus .git).
  CHECK(kiwi::directory_view(repo.work()).files() == expected);

  CHECK(view.read("README.md", 1024) == std::optional<std::string>("hello kiwi\n"));
  CHECK(view.read("run.sh", 1024) == std::optional<std::string>("#!/bin/sh\necho run\n"));
  CHECK(view.read("docs/a/b/deep.txt", 1024) == std::optional<std::string>("deep\n"));
  // Exactly the limit is read; one byte over is not loaded.
  CHECK(view.read("README.md", 11).has_value());
  CHECK_FALSE(view.read("README.md", 10).has_value());
  for (const char* hidden : {"link-to-readme", "srclink/main.c", "outside", "vendor/lib", "src",
                             "missing.txt", "../README.md", "/README.md", "./README.md",
                             "src//main.c", "src/", "src/../README.md", ".git/config", ""}) {
    CAPTURE(hidden);
    CHECK_FALSE(view.read(hidden, 1024).has_value());
  }
}

TEST_CASE("a git tree view's listing stops at max_files") {
  test::temp_dir dir("kiwi-tree-view");
  test::test_repo repo(dir.path(), "app");
  const std::string sha =
      repo.commit({{"a.txt", "a"}, {"b/b.txt", "b"}, {"c.txt", "c"}, {"d/e/f.txt", "f"}});
  const auto bare = open_bare(repo.bare());
  CHECK(view_at(bare, sha, 2).files().size() == 2);
  CHECK(view_at(bare, sha).files().size() == 4);
}

TEST_CASE("the wizard writes every golden Dockerfile from a git tree as from the checkout") {
  test::temp_dir dir("kiwi-tree-view");
  int cases = 0;
  for (const auto& fixture : fs::directory_iterator(wizard_fixtures)) {
    const std::string name = fixture.path().filename().string();
    CAPTURE(name);
    test::test_repo repo(dir.path(), name);
    const std::string sha = commit_folder(repo, fixture.path() / "repo");
    const auto bare = open_bare(repo.bare());
    const auto view = view_at(bare, sha);
    CHECK(view.files() == kiwi::directory_view(fixture.path() / "repo").files());
    auto generated = kiwi::generate_dockerfile(view, "", "");
    REQUIRE(std::holds_alternative<kiwi::wizard_output>(generated));
    const auto& out = std::get<kiwi::wizard_output>(generated);
    CHECK(out.dockerfile == test::read_file(fixture.path() / "Dockerfile"));
    CHECK(out.dockerignore == test::read_file(fixture.path() / ".dockerignore"));
    ++cases;
  }
  CHECK(cases >= 10);
}

TEST_CASE("mode path over a view: normalised values, and what is missing is named") {
  test::temp_dir dir("kiwi-tree-view");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit({{"docker/api.Dockerfile", "FROM scratch\n"},
                                       {"services/api/main.go", "package main\n"},
                                       {"README.md", "readme\n"}});
  const auto bare = open_bare(repo.bare());
  const auto view = view_at(bare, sha);
  auto ok = kiwi::resolve_dockerfile_path(view, "./docker//api.Dockerfile", "services/api/");
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(ok));
  CHECK(std::get<kiwi::dockerfile_location>(ok).path == "docker/api.Dockerfile");
  CHECK(std::get<kiwi::dockerfile_location>(ok).context == "services/api");
  auto root = kiwi::resolve_dockerfile_path(view, "docker/api.Dockerfile", "");
  REQUIRE(std::holds_alternative<kiwi::dockerfile_location>(root));
  CHECK(std::get<kiwi::dockerfile_location>(root).context == ".");

  auto error_of = [&](std::string_view path, std::string_view context) {
    auto r = kiwi::resolve_dockerfile_path(view, path, context);
    REQUIRE(std::holds_alternative<kiwi::dockerfile_error>(r));
    return std::get<kiwi::dockerfile_error>(r);
  };
  auto missing = error_of("docker/Dockerfile", ".");
  CHECK(missing.field == "dockerfile.path");
  CHECK(missing.message ==
        "\"docker/Dockerfile\" does not exist in the repository; Dockerfiles found: "
        "docker/api.Dockerfile");
  CHECK(error_of("../Dockerfile", ".").message.find("no \"..\"") != std::string::npos);
  CHECK(error_of("/etc/Dockerfile", ".").message.find("relative") != std::string::npos);
  CHECK(error_of("docker", ".").message.find("is not a file") != std::string::npos);
  auto context = error_of("docker/api.Dockerfile", "services/web");
  CHECK(context.field == "dockerfile.context");
  CHECK(context.message.find("is not a folder") != std::string::npos);
  CHECK(error_of("docker/api.Dockerfile", "README.md").message.find("is a file") !=
        std::string::npos);
}
