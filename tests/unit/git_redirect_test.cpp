// Credentials go only to the configured git host: a git server on 127.0.0.1 that answers the
// authenticated request with a 302 to http://localhost:<other port> (another host to git) must
// not make Kiwi send the token there, neither in the connection test nor in the clone stage's
// fetch (docs/security.md, "Where credentials go"). The servers are
// tests/support/redirect_server.py, on 127.0.0.1 only.

#include <doctest/doctest.h>

#include <optional>
#include <sstream>

#include "common/git/git.hpp"
#include "common/git/git_mirror.hpp"
#include "common/git/remote_probe.hpp"
#include "probe_servers.hpp"

namespace test = kiwi::test;
using namespace std::chrono_literals;

namespace {

class redirect_server {
 public:
  explicit redirect_server(const test::fs::path& dir) : record_(dir / "record.jsonl") {
    test::fs::create_directories(dir);
    const test::fs::path port_file = dir / "ports";
    process_ = test::server_process(test::spawn(
        {"/usr/bin/python3", (test::support_dir / "redirect_server.py").string(),
         port_file.string(), record_.string()}));
    test::wait_for_port_file(port_file, process_.pid(), "the redirect server");
    std::istringstream ports(test::read_file(port_file));
    ports >> port_ >> other_port_;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/app.git"; }
  // Every request the other host received, one JSON line each.
  std::string record() const { return test::read_file(record_); }

 private:
  test::fs::path record_;
  test::server_process process_;
  int port_ = 0;
  int other_port_ = 0;
};

constexpr const char* token = "redirect-token-5c1e0a77d2";

}  // namespace

TEST_CASE("a redirect to another host gets no credentials: connection test") {
  test::temp_dir dir("kiwi-redirect");
  redirect_server server(dir.path() / "servers");
  const kiwi::probe_result r = kiwi::probe_remote({server.url(), "oauth2", token, 10s});
  INFO(r.error);
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("redirect") != std::string::npos);
  CHECK(r.error_kind == "denied");
  CHECK(r.error.find("set git_url to the repository's final address") != std::string::npos);
  CHECK(r.error.find(token) == std::string::npos);
  // The other host never saw an Authorization header (nor any request at all).
  INFO(server.record());
  CHECK(server.record().find("Basic") == std::string::npos);
  CHECK(server.record().empty());
}

TEST_CASE("a redirect to another host gets no credentials: clone stage fetch") {
  test::temp_dir dir("kiwi-redirect");
  redirect_server server(dir.path() / "servers");
  kiwi::git::ensure_initialised();
  kiwi::git::repository mirror = kiwi::git::open_mirror(dir.path() / "mirror.git");
  kiwi::git::fetch_settings settings;
  settings.auth.url = server.url();
  settings.auth.username = "oauth2";
  settings.auth.token = token;
  settings.deadline = std::chrono::steady_clock::now() + 10s;
  std::string message;
  std::optional<kiwi::git::error_kind> kind;
  try {
    kiwi::git::fetch_mirror(mirror.get(), settings);
  } catch (const kiwi::git::error& e) {
    message = e.detail();
    kind = e.kind();
  }
  INFO(message);
  // A refused redirect is a setting to fix (git_url), so the clone stage fails it permanently.
  CHECK(kind == kiwi::git::error_kind::denied);
  CHECK(message.find("set git_url to the repository's final address") != std::string::npos);
  CHECK(message.find("redirect") != std::string::npos);
  CHECK(message.find(token) == std::string::npos);
  INFO(server.record());
  CHECK(server.record().find("Basic") == std::string::npos);
  CHECK(server.record().empty());
}

TEST_CASE("the credentials callback refuses a URL on another host than the configured one") {
  kiwi::git::ensure_initialised();
  kiwi::git::remote_auth auth({"https://git.example.com/team/app.git", "oauth2", token, "", ""});
  git_credential* cred = nullptr;
  {
    kiwi::git::transfer_scope scope(std::chrono::steady_clock::now() + 10s, nullptr);
    CHECK(auth.credentials(&cred, "https://evil.example.net/team/app.git", nullptr,
                           GIT_CREDENTIAL_USERPASS_PLAINTEXT) == GIT_EUSER);
    CHECK(cred == nullptr);
    // Another port on the same name is another server too.
    CHECK(auth.credentials(&cred, "https://git.example.com:8443/team/app.git", nullptr,
                           GIT_CREDENTIAL_USERPASS_PLAINTEXT) == GIT_EUSER);
    CHECK(cred == nullptr);
  }
  kiwi::git::remote_auth same({"https://Git.Example.com/team/app.git", "oauth2", token, "", ""});
  CHECK(same.credentials(&cred, "https://git.example.com:443/team/app.git", nullptr,
                         GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0);
  REQUIRE(cred != nullptr);
  git_credential_free(cred);
}
