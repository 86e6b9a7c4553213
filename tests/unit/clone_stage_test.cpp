// The clone stage against real git servers (daemon, smart HTTP with basic auth and TLS, a
// blackhole). Longer than 400 lines: one case per behaviour, all on the same servers and
// repositories; split by topic they would each repeat that setup.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <future>
#include <mutex>
#include <thread>

#include "common/git/git.hpp"
#include "tests/unit/git_servers.hpp"
#include "worker/clone_stage.hpp"

using kiwi::clone_errc;
using kiwi::clone_error;
using kiwi::clone_outcome;
using kiwi::clone_request;
using kiwi::clone_result;
using kiwi::run_clone;
namespace test = kiwi::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string auth_message =
    "Authentication failed: check that the token hasn't expired and has read_repository "
    "permission";
const std::string not_found_message =
    "Repository not found: check that the URL ends with .git and has no typos";
const std::string timeout_message =
    "Connection timeout: check firewall settings and the git server status";
const std::string token = "glpat-s3cr3t-t0ken";

clone_request make_request(const test::temp_dir& dir, const std::string& url,
                           const std::string& sha, const std::string& build) {
  clone_request r;
  r.service = "app";
  r.git_url = url;
  r.branch = "main";
  r.ref = "refs/heads/main";
  r.sha = sha;
  r.mirror_dir = dir.path() / "data" / "mirrors" / "app.git";
  r.workspace = dir.path() / "data" / "workspaces" / build;
  r.timeout = 20s;
  return r;
}

const clone_result& success(const clone_outcome& outcome) {
  if (const auto* e = std::get_if<clone_error>(&outcome)) {
    FAIL("clone failed: " << e->message);
  }
  return std::get<clone_result>(outcome);
}

clone_error failure(const clone_outcome& outcome) {
  REQUIRE(std::holds_alternative<clone_error>(outcome));
  return std::get<clone_error>(outcome);
}

std::chrono::milliseconds elapsed_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

// Accepts one connection on a listening socket, sends a greeting, reads the client's first
// line and hangs up; every wait is bounded.
class banner_server {
 public:
  explicit banner_server(std::string greeting) : greeting_(std::move(greeting)) {
    thread_ = std::thread([this] { serve(); });
  }
  ~banner_server() {
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  banner_server(const banner_server&) = delete;
  banner_server& operator=(const banner_server&) = delete;

  int port() const { return socket_.port(); }
  // What the client sent, once the exchange is over.
  std::string received() {
    if (thread_.joinable()) {
      thread_.join();
    }
    return received_;
  }

 private:
  void serve() {
    pollfd p{socket_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) {
      return;
    }
    int fd = ::accept4(socket_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      return;
    }
    (void)::send(fd, greeting_.data(), greeting_.size(), MSG_NOSIGNAL);
    char buf[256];
    while (received_.find('\n') == std::string::npos && received_.size() < 4096) {
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 10000) != 1) {
        break;
      }
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        break;
      }
      received_.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
  }

  test::blackhole socket_;
  std::string greeting_;
  std::string received_;
  std::thread thread_;
};

const std::map<std::string, std::string> first_files = {
    {"README.md", "hello kiwi\n"},
    {"src/main.c", "int main(void) { return 0; }\n"},
    {"run.sh", "#!/bin/sh\necho run\n"},
};

// Pushes first_files, run.sh made executable in a second commit; the head commit's sha.
std::string push_with_executable(test::test_repo& repo) {
  repo.commit(first_files, "first");
  repo.git({"update-index", "--chmod=+x", "run.sh"});
  repo.git({"commit", "-q", "-m", "executable"});
  repo.git({"push", "-q", "origin", "HEAD"});
  return repo.rev_parse("HEAD");
}

}  // namespace

TEST_CASE("a file:// clone writes the commit's files, and only them, into the workspace") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = push_with_executable(repo);

  test::line_log progress;
  auto request = make_request(dir, repo.file_url(), sha, "b1");
  request.on_progress = progress.sink();
  const auto result = success(run_clone(request));

  CHECK(result.sha == sha);
  CHECK(result.fetched);
  CHECK(result.files == 3);
  CHECK(result.tree == repo.rev_parse(sha + "^{tree}"));
  CHECK(test::read_file(request.workspace / "README.md") == "hello kiwi\n");
  CHECK(test::read_file(request.workspace / "src/main.c") == "int main(void) { return 0; }\n");
  CHECK((fs::status(request.workspace / "run.sh").permissions() & fs::perms::owner_exec) !=
        fs::perms::none);
  CHECK_FALSE(fs::exists(request.workspace / ".git"));
  CHECK(fs::exists(request.mirror_dir / "HEAD"));
  CHECK(fs::exists(request.mirror_dir.string() + ".lock"));
  CHECK(progress.last_starting_with("Fetching origin: ").ends_with(", done"));
  REQUIRE_FALSE(progress.lines.empty());
  CHECK(progress.lines.back() == "Checked out " + sha.substr(0, 12) + " (3 files)");
}

// Under UMask=0077 (the units') the checkout still has git's modes, which become the image's
// files' modes; the mirror's lock file is private.
TEST_CASE("a checkout under umask 077 keeps git's 0644 and 0755 modes") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = push_with_executable(repo);
  auto request = make_request(dir, repo.file_url(), sha, "b1");
  const mode_t saved = ::umask(077);
  const auto outcome = run_clone(request);
  ::umask(saved);
  success(outcome);
  auto mode = [](const fs::path& p) {
    return static_cast<unsigned>(fs::symlink_status(p).permissions());
  };
  CHECK(mode(request.workspace / "README.md") == 0644);
  CHECK(mode(request.workspace / "src") == 0755);
  CHECK(mode(request.workspace / "src/main.c") == 0644);
  CHECK(mode(request.workspace / "run.sh") == 0755);
  CHECK(mode(request.mirror_dir.string() + ".lock") == 0600);
}

TEST_CASE("the mirror is reused: new pushes are fetched incrementally, known commits not at all") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string first = repo.commit(first_files, "first");
  REQUIRE(success(run_clone(make_request(dir, repo.file_url(), first, "b1"))).fetched);

  const std::string second = repo.commit({{"README.md", "hello again\n"}}, "second");
  test::line_log progress;
  auto request = make_request(dir, repo.file_url(), second, "b2");
  request.on_progress = progress.sink();
  const auto result = success(run_clone(request));
  CHECK(result.fetched);
  // Only the new commit, its root tree and the changed blob travel.
  CHECK(progress.last_starting_with("Fetching origin: ") == "Fetching origin: 3/3 objects, 0.0 MiB, done");
  CHECK(test::read_file(request.workspace / "README.md") == "hello again\n");

  auto again = make_request(dir, repo.file_url(), first, "b3");
  const auto cached = success(run_clone(again));
  CHECK_FALSE(cached.fetched);
  CHECK(cached.files == 3);
  CHECK(test::read_file(again.workspace / "README.md") == "hello kiwi\n");
}

TEST_CASE("a mirror that has piled up packs is repacked into one, and keeps working") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const auto packs = [&] {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir.path() / "data/mirrors/app.git/objects/pack")) {
      n += e.path().extension() == ".pack";
    }
    return n;
  };
  std::string sha = repo.commit(first_files, "first");
  auto request = make_request(dir, repo.file_url(), sha, "b0");
  request.repack_after_packs = 2;
  REQUIRE(success(run_clone(request)).fetched);
  std::size_t most = packs();
  test::line_log progress;
  for (int i = 1; i <= 3; ++i) {  // each fetch adds a pack; the third one passes the limit
    sha = repo.commit({{"README.md", "push " + std::to_string(i) + "\n"}}, "push");
    request = make_request(dir, repo.file_url(), sha, "b" + std::to_string(i));
    request.repack_after_packs = 2;
    request.on_progress = progress.sink();
    const auto result = success(run_clone(request));
    CHECK(result.fetched);
    CHECK(test::read_file(request.workspace / "README.md") == "push " + std::to_string(i) + "\n");
    most = std::max(most, packs());
  }
  CHECK(most <= 2);
  CHECK(packs() <= 2);
  CHECK(progress.last_starting_with("Repacked the mirror: ") ==
        "Repacked the mirror: 3 packs into 1");
  // The repacked mirror serves known commits without a fetch, and new ones incrementally.
  const auto again = success(run_clone(make_request(dir, repo.file_url(), sha, "b9")));
  CHECK_FALSE(again.fetched);
}

TEST_CASE("a fetch prunes branches the remote deleted") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  repo.commit(first_files, "first");
  repo.git({"push", "-q", "origin", "HEAD:refs/heads/feature"});
  const std::string first = repo.rev_parse("HEAD");
  REQUIRE(success(run_clone(make_request(dir, repo.file_url(), first, "b1"))).fetched);
  const auto mirror = make_request(dir, "", "", "").mirror_dir;
  const auto git_dir = "--git-dir=" + mirror.string();
  CHECK(test::run({"git", git_dir, "show-ref"}).find("refs/heads/feature") != std::string::npos);

  repo.git({"push", "-q", "origin", "--delete", "feature"});
  const std::string second = repo.commit({{"README.md", "two\n"}}, "second");
  REQUIRE(success(run_clone(make_request(dir, repo.file_url(), second, "b2"))).fetched);
  CHECK(test::run({"git", git_dir, "show-ref"}).find("refs/heads/feature") == std::string::npos);
}

TEST_CASE("a commit that is not on the branch is reported with the user's message") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  repo.commit(first_files, "first");
  const std::string bogus = "1234567890abcdef1234567890abcdef12345678";

  auto error = failure(run_clone(make_request(dir, repo.file_url(), bogus, "b1")));
  CHECK(error.code == clone_errc::commit_not_found);
  CHECK(error.message == "Commit " + bogus + " not found on branch main");

  // On another branch only: present in the mirror, but not reachable from main.
  repo.git({"checkout", "-q", "-b", "feature"});
  const std::string feature = repo.commit({{"feature.txt", "f\n"}}, "feature");
  error = failure(run_clone(make_request(dir, repo.file_url(), feature, "b2")));
  CHECK(error.code == clone_errc::commit_not_found);
  CHECK(error.message == "Commit " + feature + " not found on branch main");

  auto short_sha = make_request(dir, repo.file_url(), "12345678", "b3");
  CHECK(failure(run_clone(short_sha)).message == "Commit 12345678 not found on branch main");
}

TEST_CASE("a tag build checks out the annotated tag's commit; its name labels a miss") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  repo.git({"tag", "-a", "v1", "-m", "release 1"});
  repo.git({"push", "-q", "origin", "v1"});

  auto request = make_request(dir, repo.file_url(), sha, "b1");
  request.branch.clear();
  request.ref = "refs/tags/v1";
  CHECK(success(run_clone(request)).files == 3);

  const std::string later = repo.commit({{"later.txt", "l\n"}}, "later");
  request.sha = later;
  request.workspace = dir.path() / "ws2";
  auto error = failure(run_clone(request));
  CHECK(error.code == clone_errc::commit_not_found);
  CHECK(error.message == "Commit " + later + " not found on branch v1");
}

TEST_CASE("a missing repository or a directory that is no repository is repository_not_found") {
  test::temp_dir dir("kiwi-clone");
  const std::string sha = "1234567890abcdef1234567890abcdef12345678";
  auto error = failure(run_clone(
      make_request(dir, "file://" + (dir.path() / "repos" / "missing.git").string(), sha, "b1")));
  CHECK(error.code == clone_errc::repository_not_found);
  CHECK(error.message == not_found_message);

  fs::create_directories(dir.path() / "plain");
  error = failure(run_clone(make_request(dir, "file://" + (dir.path() / "plain").string(), sha,
                                         "b2")));
  CHECK(error.code == clone_errc::repository_not_found);
  CHECK(error.message == not_found_message);
}

TEST_CASE("a cancel flag set before the clone stops it before any work") {
  test::temp_dir dir("kiwi-clone");
  std::atomic<bool> cancel{true};
  auto request = make_request(dir, "file:///nowhere.git",
                              "1234567890abcdef1234567890abcdef12345678", "b1");
  request.cancel = &cancel;
  auto error = failure(run_clone(request));
  CHECK(error.code == clone_errc::cancelled);
  CHECK_FALSE(fs::exists(request.mirror_dir));
}

TEST_CASE("a corrupt mirror is removed and created again") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  auto request = make_request(dir, repo.file_url(), sha, "b1");
  test::write_file(request.mirror_dir / "junk", "not a repository\n");
  const auto result = success(run_clone(request));
  CHECK(result.fetched);
  CHECK_FALSE(fs::exists(request.mirror_dir / "junk"));
}

TEST_CASE("a changed git_url repoints the mirror's origin and fetches from the new remote") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo old_repo(dir.path(), "old");
  test::test_repo new_repo(dir.path(), "new");
  const std::string old_sha = old_repo.commit({{"old.txt", "old\n"}}, "old");
  const std::string new_sha = new_repo.commit({{"new.txt", "new\n"}}, "new");
  REQUIRE(success(run_clone(make_request(dir, old_repo.file_url(), old_sha, "b1"))).fetched);

  const auto result = success(run_clone(make_request(dir, new_repo.file_url(), new_sha, "b2")));
  CHECK(result.fetched);
  const auto mirror = make_request(dir, "", "", "").mirror_dir;
  CHECK(test::trimmed(test::run({"git", "--git-dir=" + mirror.string(), "remote", "get-url",
                                 "origin"})) == new_repo.file_url());
  // Pruned: the old remote's main is gone, so its commit no longer counts as on the branch.
  auto error = failure(run_clone(make_request(dir, new_repo.file_url(), old_sha, "b3")));
  CHECK(error.code == clone_errc::commit_not_found);
}

TEST_CASE("a job waits for the mirror lock another process or job holds") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  auto request = make_request(dir, repo.file_url(), sha, "b1");
  fs::create_directories(request.mirror_dir.parent_path());
  const std::string lock_path = request.mirror_dir.string() + ".lock";
  int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);  // a separate open file: conflicts like another process

  auto clone = std::async(std::launch::async, [&request] { return run_clone(request); });
  CHECK(clone.wait_for(400ms) == std::future_status::timeout);
  CHECK_FALSE(fs::exists(request.mirror_dir));
  ::flock(fd, LOCK_UN);
  ::close(fd);
  REQUIRE(clone.wait_for(20s) == std::future_status::ready);
  CHECK(success(clone.get()).fetched);
}

TEST_CASE("concurrent jobs of one service share the mirror safely") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  std::vector<clone_request> requests;  // outlives the jobs, even when a check throws
  std::vector<std::future<clone_outcome>> jobs;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(make_request(dir, repo.file_url(), sha, std::string("b") + std::to_string(i)));
  }
  for (const auto& r : requests) {
    jobs.push_back(std::async(std::launch::async, [&r] { return run_clone(r); }));
  }
  int fetched = 0;
  for (auto& job : jobs) {
    REQUIRE(job.wait_for(30s) == std::future_status::ready);
    const auto outcome = job.get();
    fetched += success(outcome).fetched ? 1 : 0;
  }
  CHECK(fetched == 1);  // the first fetches, the others find the commit under the lock
  for (const auto& r : requests) {
    CHECK(test::read_file(r.workspace / "README.md") == "hello kiwi\n");
  }
}

TEST_CASE("git daemon: an exported repository clones, an unknown path is repository_not_found") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  test::git_daemon daemon(dir.path() / "repos");

  auto request = make_request(dir, daemon.url("app"), sha, "b1");
  const auto result = success(run_clone(request));
  CHECK(result.fetched);
  CHECK(test::read_file(request.workspace / "README.md") == "hello kiwi\n");

  auto missing = make_request(dir, daemon.url("missing"), sha, "b2");
  missing.mirror_dir = dir.path() / "mirrors" / "missing.git";
  auto error = failure(run_clone(missing));
  CHECK(error.code == clone_errc::repository_not_found);
  CHECK(error.message == not_found_message);
}

TEST_CASE("smart HTTP with basic auth: the token clones, a wrong one fails once and promptly") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  test::git_http_server web(dir.path() / "lighttpd", dir.path() / "repos", "user", token);

  auto request = make_request(dir, web.url("app"), sha, "b1");
  request.username = "user";
  request.token = token;
  const auto result = success(run_clone(request));
  CHECK(result.fetched);
  CHECK(test::read_file(request.workspace / "README.md") == "hello kiwi\n");

  auto wrong = make_request(dir, web.url("app"), sha, "b2");
  wrong.mirror_dir = dir.path() / "mirrors" / "wrong.git";
  wrong.username = "user";
  wrong.token = "wrong-" + token;
  const auto start = std::chrono::steady_clock::now();
  auto error = failure(run_clone(wrong));
  CHECK(elapsed_since(start) < 5s);  // one rejected credential, not a retry loop
  CHECK(error.code == clone_errc::authentication_failed);
  CHECK(error.message == auth_message);

  auto anonymous = make_request(dir, web.url("app"), sha, "b3");
  anonymous.mirror_dir = dir.path() / "mirrors" / "anonymous.git";
  CHECK(failure(run_clone(anonymous)).code == clone_errc::authentication_failed);

  auto missing = make_request(dir, web.url("missing"), sha, "b4");
  missing.mirror_dir = dir.path() / "mirrors" / "missing.git";
  missing.username = "user";
  missing.token = token;
  error = failure(run_clone(missing));
  CHECK(error.code == clone_errc::repository_not_found);
  CHECK(error.message == not_found_message);
}

TEST_CASE("https: an untrusted certificate is certificate_invalid; trusted, the clone works") {
  test::temp_dir dir("kiwi-clone");
  test::test_repo repo(dir.path(), "app");
  const std::string sha = repo.commit(first_files, "first");
  test::git_http_server web(dir.path() / "lighttpd", dir.path() / "repos", "user", token, true);

  auto request = make_request(dir, web.url("app"), sha, "b1");
  request.username = "user";
  request.token = token;
  auto error = failure(run_clone(request));
  CHECK(error.code == clone_errc::certificate_invalid);
  CHECK(error.message.starts_with(
      "TLS certificate verification failed: the git server's certificate is not trusted ("));

  // Trusting the self-signed certificate proves TLS runs over Kiwi's socket stream.
  kiwi::git::ensure_initialised();
  REQUIRE(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, web.cert_file().c_str(), nullptr) == 0);
  const auto outcome = run_clone(request);
  const char* system_bundle = "/etc/ssl/certs/ca-certificates.crt";
  if (fs::exists(system_bundle)) {
    git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, system_bundle, nullptr);
  }
  CHECK(success(outcome).files == 3);
  CHECK(test::read_file(request.workspace / "README.md") == "hello kiwi\n");
}

TEST_CASE("an unreachable server is connection_timeout with the reason, at once") {
  test::temp_dir dir("kiwi-clone");
  const int port = test::free_port();
  auto request = make_request(dir, "http://127.0.0.1:" + std::to_string(port) + "/git/app.git",
                              "1234567890abcdef1234567890abcdef12345678", "b1");
  const auto start = std::chrono::steady_clock::now();
  auto error = failure(run_clone(request));
  CHECK(elapsed_since(start) < 2s);
  CHECK(error.code == clone_errc::connection_timeout);
  CHECK(error.message ==
        timeout_message + " (127.0.0.1:" + std::to_string(port) + ": Connection refused)");

  request.git_url = "https://kiwi-test.invalid/app.git";
  error = failure(run_clone(request));
  CHECK(error.code == clone_errc::connection_timeout);
  CHECK(error.message.starts_with(timeout_message + " (cannot resolve kiwi-test.invalid: "));
}

TEST_CASE("a server that accepts and never answers hits the deadline") {
  test::temp_dir dir("kiwi-clone");
  test::blackhole hole;
  const std::string sha = "1234567890abcdef1234567890abcdef12345678";
  for (const std::string scheme : {"http", "git"}) {
    CAPTURE(scheme);
    auto request = make_request(
        dir, scheme + "://127.0.0.1:" + std::to_string(hole.port()) + "/app.git", sha, scheme);
    request.timeout = 1s;
    const auto start = std::chrono::steady_clock::now();
    auto error = failure(run_clone(request));
    CHECK(elapsed_since(start) < 3s);
    CHECK(error.code == clone_errc::connection_timeout);
    CHECK(error.message == timeout_message);
  }
}

TEST_CASE("a cancel during a stalled transfer stops the clone promptly") {
  test::temp_dir dir("kiwi-clone");
  test::blackhole hole;
  std::atomic<bool> cancel{false};
  auto request = make_request(dir, "http://127.0.0.1:" + std::to_string(hole.port()) + "/app.git",
                              "1234567890abcdef1234567890abcdef12345678", "b1");
  request.timeout = 30s;
  request.cancel = &cancel;
  auto clone = std::async(std::launch::async, [&request] { return run_clone(request); });
  CHECK(clone.wait_for(300ms) == std::future_status::timeout);
  const auto start = std::chrono::steady_clock::now();
  cancel = true;
  REQUIRE(clone.wait_for(5s) == std::future_status::ready);
  CHECK(elapsed_since(start) < 1s);
  auto error = failure(clone.get());
  CHECK(error.code == clone_errc::cancelled);
}

TEST_CASE("ssh runs over Kiwi's socket stream: libssh2 talks on the stream's socket") {
  // libgit2 1.5's ssh transport takes the socket out of the stream by its layout; a fake server
  // that sees libssh2's identification line proves the layout matches.
  test::temp_dir dir("kiwi-clone");
  banner_server server("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  auto request = make_request(dir, "ssh://git@127.0.0.1:" + std::to_string(server.port()) +
                                       "/app.git",
                              "1234567890abcdef1234567890abcdef12345678", "b1");
  request.timeout = 5s;
  const auto start = std::chrono::steady_clock::now();
  auto error = failure(run_clone(request));
  CHECK(elapsed_since(start) < 5s);
  CHECK(error.code == clone_errc::other);
  CHECK(server.received().starts_with("SSH-2.0-libssh2"));
}

TEST_CASE("credentials in URLs are scrubbed from messages") {
  CHECK(kiwi::git::scrub_credentials(
            "failed to fetch https://user:tok3n@example.com/x.git and git://a@b/c") ==
        "failed to fetch https://example.com/x.git and git://b/c");
  CHECK(kiwi::git::scrub_credentials("'http://u:p@h:80' at file:///x/a@b and https://h/p@q") ==
        "'http://h:80' at file:///x/a@b and https://h/p@q");
  CHECK(kiwi::git::scrub_credentials("ends with https://only-user@") == "ends with https://");
}
