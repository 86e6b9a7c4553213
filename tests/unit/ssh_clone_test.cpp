// Git over ssh against a real OpenSSH server (tests/unit/git_servers.hpp ssh_server): the clone
// stage and the connection test authenticate with the service's ed25519 key and check or
// report the server's host key.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <mutex>
#include <thread>

#include "common/git/git.hpp"
#include "common/git/remote_probe.hpp"
#include "tests/unit/git_servers.hpp"
#include "worker/clone_stage.hpp"

namespace test = kiwi::test;
namespace git = kiwi::git;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct ssh_setup {
  test::temp_dir dir{"kiwi-ssh"};
  test::test_repo repo{dir.path(), "app"};
  std::string sha = repo.commit({{"README.md", "over ssh\n"}, {"src/app.c", "int x;\n"}}, "first");
  test::ssh_server server{dir.path() / "sshd"};
  std::string url = server.url(repo.bare());
};

kiwi::clone_request clone_of(const ssh_setup& s, const std::string& build) {
  kiwi::clone_request r;
  r.service = "app";
  r.git_url = s.url;
  r.branch = "main";
  r.ref = "refs/heads/main";
  r.sha = s.sha;
  r.mirror_dir = s.dir.path() / "data" / "mirrors" / "app.git";
  r.workspace = s.dir.path() / "data" / "workspaces" / build;
  r.timeout = 20s;
  return r;
}

kiwi::clone_error failure(const kiwi::clone_outcome& outcome) {
  REQUIRE(std::holds_alternative<kiwi::clone_error>(outcome));
  return std::get<kiwi::clone_error>(outcome);
}

kiwi::probe_request probe_of(const ssh_setup& s, const std::string& key) {
  kiwi::probe_request r;
  r.git_url = s.url;
  r.ssh_key = key;
  r.timeout = 10s;
  return r;
}

std::string host_key_error(const ssh_setup& s) {
  return "SSH host key verification failed: [127.0.0.1]:" + std::to_string(s.server.port()) +
         " presented " + s.server.host_fingerprint() + ", which is not in ssh_known_hosts";
}

// How often sshd has logged text so far (it logs asynchronously: wait up to 2 s for one).
std::size_t occurrences(const test::ssh_server& server, const std::string& text) {
  const auto give_up = std::chrono::steady_clock::now() + 2s;
  for (;;) {
    const std::string log = server.log();
    std::size_t n = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++n;
    }
    if (n > 0 || std::chrono::steady_clock::now() > give_up) {
      return n;
    }
    std::this_thread::sleep_for(20ms);
  }
}

int ls_credentials(git_credential** out, const char* url, const char* user, unsigned int allowed,
                   void* payload) {
  return static_cast<git::remote_auth*>(payload)->credentials(out, url, user, allowed);
}

int ls_certificate(git_cert* cert, int valid, const char* host, void* payload) {
  return static_cast<git::remote_auth*>(payload)->certificate_check(cert, valid, host);
}

}  // namespace

TEST_CASE("over ssh the clone stage logs in with the service's key and checks out the commit") {
  ssh_setup s;
  test::line_log progress;
  auto request = clone_of(s, "b1");
  request.ssh_key = s.server.client_key();
  request.on_progress = progress.sink();
  const auto outcome = kiwi::run_clone(request);
  if (const auto* e = std::get_if<kiwi::clone_error>(&outcome)) {
    FAIL("clone failed: " << e->message << "\nsshd: " << s.server.log());
  }
  const auto& result = std::get<kiwi::clone_result>(outcome);
  CHECK(result.sha == s.sha);
  CHECK(result.fetched);
  CHECK(test::read_file(request.workspace / "README.md") == "over ssh\n");
  CHECK(test::read_file(request.workspace / "src/app.c") == "int x;\n");
  CHECK(s.server.log().find("Accepted publickey for root") != std::string::npos);
  // Without ssh_known_hosts the host key is accepted and named once in the stage log.
  const auto host_lines = progress.starting_with("ssh host key ");
  REQUIRE(host_lines.size() == 1);
  CHECK(host_lines[0] == "ssh host key " + s.server.host_fingerprint() +
                             " (not verified: the service has no ssh_known_hosts)");
  std::lock_guard lock(progress.mutex);
  for (const auto& line : progress.lines) {
    CHECK(line.find("PRIVATE KEY") == std::string::npos);
  }
}

TEST_CASE("over ssh an unknown key and a missing key fail as authentication, saying which") {
  ssh_setup s;
  auto wrong = clone_of(s, "b1");
  wrong.ssh_key = s.server.other_key();
  const auto start = std::chrono::steady_clock::now();
  const auto denied = failure(kiwi::run_clone(wrong));
  CHECK(std::chrono::steady_clock::now() - start < 10s);  // one attempt, no retry loop
  CHECK(denied.code == kiwi::clone_errc::authentication_failed);
  CHECK(denied.message == git::ssh_key_rejected_message);
  CHECK(denied.message.find("PRIVATE KEY") == std::string::npos);
  // libgit2 asked again after the rejection; Kiwi did not offer the key a second time.
  CHECK_MESSAGE(occurrences(s.server, "Failed publickey for root") == 1, s.server.log());

  auto none = clone_of(s, "b2");
  const auto missing = failure(kiwi::run_clone(none));
  CHECK(missing.code == kiwi::clone_errc::authentication_failed);
  CHECK(missing.message == git::ssh_key_missing_message);
}

TEST_CASE("ssh_known_hosts pins the host key: the server's own line passes, another key fails") {
  ssh_setup s;
  test::line_log progress;
  auto pinned = clone_of(s, "b1");
  pinned.ssh_key = s.server.client_key();
  // Among other hosts' lines, with a comment, as a known_hosts file looks.
  pinned.ssh_known_hosts = "# pinned\ngit.example.com " +
                           s.server.other_known_hosts_line().substr(
                               s.server.other_known_hosts_line().find(' ') + 1) +
                           "\n" + s.server.known_hosts_line() + "\n";
  pinned.on_progress = progress.sink();
  const auto outcome = kiwi::run_clone(pinned);
  REQUIRE_MESSAGE(std::holds_alternative<kiwi::clone_result>(outcome),
                  std::get<kiwi::clone_error>(outcome).message);
  CHECK(progress.starting_with("ssh host key ") ==
        std::vector<std::string>{"ssh host key " + s.server.host_fingerprint() +
                                 " (matches ssh_known_hosts)"});

  // Another key for this host, and this key for another port: both are mismatches.
  for (const std::string& lines :
       {s.server.other_known_hosts_line(),
        "[127.0.0.1]:1 " + s.server.known_hosts_line().substr(
                               s.server.known_hosts_line().find(' ') + 1)}) {
    CAPTURE(lines);
    auto mismatched = clone_of(s, "b2");
    mismatched.mirror_dir = s.dir.path() / "data" / "mirrors" / "other.git";  // must fetch
    mismatched.ssh_key = s.server.client_key();
    mismatched.ssh_known_hosts = lines;
    const auto refused = failure(kiwi::run_clone(mismatched));
    CHECK(refused.code == kiwi::clone_errc::certificate_invalid);
    CHECK(refused.message == host_key_error(s));
  }
  // The refusal comes before authentication: the key was never offered.
  CHECK(s.server.log().find("Accepted publickey") == s.server.log().rfind("Accepted publickey"));
}

TEST_CASE("the connection test over ssh lists branches and reports the host key") {
  ssh_setup s;
  s.repo.git({"push", "-q", "origin", "HEAD:refs/heads/develop"});

  auto ok = kiwi::probe_remote(probe_of(s, s.server.client_key()));
  REQUIRE_MESSAGE(ok.ok, ok.error << "\nsshd: " << s.server.log());
  CHECK(ok.branches == std::vector<std::string>{"develop", "main"});
  CHECK(ok.heads["main"] == s.sha);
  CHECK(ok.host_key == s.server.host_fingerprint());
  CHECK(ok.host_key_line == s.server.known_hosts_line());

  auto pinned_request = probe_of(s, s.server.client_key());
  pinned_request.ssh_known_hosts = ok.host_key_line;  // what the first test reported pins it
  CHECK(kiwi::probe_remote(pinned_request).ok);

  pinned_request.ssh_known_hosts = s.server.other_known_hosts_line();
  auto mismatch = kiwi::probe_remote(pinned_request);
  CHECK_FALSE(mismatch.ok);
  CHECK(mismatch.error_kind == "host_key");
  CHECK(mismatch.error == host_key_error(s));
  CHECK(mismatch.host_key == s.server.host_fingerprint());

  auto denied = kiwi::probe_remote(probe_of(s, s.server.other_key()));
  CHECK(denied.error_kind == "authentication");
  CHECK(denied.error == git::ssh_key_rejected_message);

  auto missing = kiwi::probe_remote(probe_of(s, ""));
  CHECK(missing.error_kind == "authentication");
  CHECK(missing.error == git::ssh_key_missing_message);

  // Without a user in the URL the key is offered as "git" (which this server refuses).
  auto as_git = probe_of(s, s.server.client_key());
  as_git.git_url = "ssh://127.0.0.1:" + std::to_string(s.server.port()) + s.repo.bare().string();
  CHECK(kiwi::probe_remote(as_git).error_kind == "authentication");
  CHECK_MESSAGE(s.server.log().find("user git from 127.0.0.1") != std::string::npos,
                s.server.log());
}

TEST_CASE("without in-memory keys the key goes through a private file, removed afterwards") {
  ssh_setup s;
  git::ensure_initialised();
  git::remote_auth::settings settings;
  settings.url = s.url;
  settings.ssh_key = s.server.client_key();
  settings.ssh_key_in_memory = false;
  fs::path key_file;
  {
    git::remote_auth auth(std::move(settings));
    git::remote remote;
    REQUIRE(git_remote_create_detached(git::out_ptr(remote), s.url.c_str()) == 0);
    git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
    callbacks.credentials = &ls_credentials;
    callbacks.certificate_check = &ls_certificate;
    callbacks.payload = &auth;
    git::transfer_scope scope(std::chrono::steady_clock::now() + 20s, nullptr);
    const int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr,
                                      nullptr);
    REQUIRE_MESSAGE(rc == 0, git::translate(rc).what());
    key_file = auth.key_file();
    REQUIRE_FALSE(key_file.empty());
    CHECK(fs::status(key_file).permissions() == (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(fs::status(key_file.parent_path()).permissions() == fs::perms::owner_all);
    const git_remote_head** heads = nullptr;
    size_t count = 0;
    REQUIRE(git_remote_ls(&heads, &count, remote.get()) == 0);
    bool has_main = false;
    for (size_t i = 0; i < count; ++i) {
      has_main = has_main || std::string_view(heads[i]->name) == "refs/heads/main";
    }
    CHECK(has_main);
    git_remote_disconnect(remote.get());
  }
  CHECK_FALSE(fs::exists(key_file));
  CHECK_FALSE(fs::exists(key_file.parent_path()));
}
