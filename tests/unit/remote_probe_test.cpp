// "Test connection" against real git servers: smart HTTP with basic auth (lighttpd +
// git-http-backend), git daemon-less file:// repos, an unreachable port and a silent server.

#include <doctest/doctest.h>

#include "common/git/git.hpp"
#include "common/git/remote_probe.hpp"
#include "git_servers.hpp"

namespace test = kiwi::test;
using namespace std::chrono_literals;

TEST_CASE("test connection lists branches and the default branch, or says why not") {
  test::temp_dir dir("kiwi-probe");
  test::test_repo repo(dir.path(), "app");
  repo.commit({{"README.md", "hi\n"}}, "first");
  repo.git({"push", "-q", "origin", "HEAD:refs/heads/feature/login"});
  repo.git({"push", "-q", "origin", "HEAD:refs/heads/develop"});
  const std::string token = "probe-token-0123456789";
  test::git_http_server web(dir.path() / "lighttpd", dir.path() / "repos", "user", token);

  kiwi::probe_request req{web.url("app"), "user", token, 10s};
  auto ok = kiwi::probe_remote(req);
  REQUIRE_MESSAGE(ok.ok, ok.error);
  CHECK(ok.branches == std::vector<std::string>{"develop", "feature/login", "main"});
  CHECK(ok.default_branch == "main");

  auto file = kiwi::probe_remote({repo.file_url(), "", "", 10s});
  CHECK(file.ok);
  CHECK(file.branches.size() == 3);

  req.token = "wrong-" + token;
  auto denied = kiwi::probe_remote(req);
  CHECK_FALSE(denied.ok);
  CHECK(denied.error_kind == "authentication");
  CHECK(denied.error == kiwi::git::authentication_failed_message);
  CHECK(denied.error.find(req.token) == std::string::npos);

  auto missing = kiwi::probe_remote({web.url("nope"), "user", token, 10s});
  CHECK(missing.error_kind == "not_found");
  CHECK(missing.error == kiwi::git::repository_not_found_message);

  const int port = test::free_port();
  auto refused =
      kiwi::probe_remote({"http://127.0.0.1:" + std::to_string(port) + "/x.git", "", "", 10s});
  CHECK(refused.error_kind == "timeout");
  CHECK(refused.error.starts_with(std::string(kiwi::git::connection_timeout_message)));

  test::blackhole hole;
  const auto start = std::chrono::steady_clock::now();
  auto silent = kiwi::probe_remote(
      {"http://127.0.0.1:" + std::to_string(hole.port()) + "/x.git", "", "", 1s});
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(silent.error_kind == "timeout");
}

TEST_CASE("test connection over https with an untrusted certificate names the certificate") {
  test::temp_dir dir("kiwi-probe");
  test::test_repo repo(dir.path(), "app");
  repo.commit({{"README.md", "hi\n"}}, "first");
  test::git_http_server web(dir.path() / "lighttpd", dir.path() / "repos", "user", "tok-12345",
                            true);
  auto r = kiwi::probe_remote({web.url("app"), "user", "tok-12345", 10s});
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "certificate");
  CHECK(r.error.starts_with(std::string(kiwi::git::certificate_message_prefix)));
}
