// Where git connections may go (common/security/host_policy.hpp) and what a kept secret follows
// (daemon/kept_secrets.hpp, common/security/url_authority.hpp): pure functions, no network.

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include "common/security/host_policy.hpp"
#include "daemon/kept_secrets.hpp"
#include "common/security/url_authority.hpp"
#include "daemon/webhook_installer.hpp"

namespace {

sockaddr_in6 v6(const char* text) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, text, &a.sin6_addr);
  return a;
}

sockaddr_in v4(const char* text) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, text, &a.sin_addr);
  return a;
}

const sockaddr* sa(const auto& a) { return reinterpret_cast<const sockaddr*>(&a); }

}  // namespace

TEST_CASE("the default host policy refuses link-local and cloud metadata, not loopback") {
  const kiwi::host_policy p;
  CHECK(p.refuses_name("169.254.169.254"));
  CHECK(p.refuses_name("Metadata.Google.Internal."));
  const auto metadata = v4("169.254.169.254");
  CHECK(p.refuses_address("innocent.example", sa(metadata)));  // a name resolving there
  const auto mapped = v6("::ffff:169.254.169.254");
  CHECK(p.refuses_address("innocent.example", sa(mapped)));
  const auto link_local = v6("fe80::1");
  CHECK(p.refuses_address("x", sa(link_local)));
  const auto loopback = v4("127.0.0.1");
  CHECK_FALSE(p.refuses_name("127.0.0.1"));
  CHECK_FALSE(p.refuses_address("localhost", sa(loopback)));
  const auto public_address = v4("140.82.112.3");
  CHECK_FALSE(p.refuses_address("github.com", sa(public_address)));
}

TEST_CASE("an allow list admits names, wildcards and ranges; deny wins") {
  kiwi::host_policy p;
  p.allowed = {"github.com", "*.corp.example", "10.0.0.0/8"};
  const auto addr = v4("140.82.112.3");
  CHECK_FALSE(p.refuses_address("github.com", sa(addr)));
  CHECK_FALSE(p.refuses_address("git.corp.example", sa(addr)));
  CHECK(p.refuses_address("corp.example.evil.net", sa(addr)));
  const auto internal = v4("10.1.2.3");
  CHECK_FALSE(p.refuses_address("anything", sa(internal)));
  p.denied.push_back("10.1.0.0/16");
  CHECK(p.refuses_address("anything", sa(internal)));
  CHECK(kiwi::check_host_pattern("*.example.com").empty());
  CHECK(kiwi::check_host_pattern("fe80::/10").empty());
  CHECK_FALSE(kiwi::check_host_pattern("10.0.0.0/33").empty());
  CHECK_FALSE(kiwi::check_host_pattern("not a host").empty());
}

TEST_CASE("a URL's endpoint: scheme, host and port, never the userinfo") {
  CHECK(kiwi::same_endpoint("https://Git.Example.com/a.git", "https://git.example.com:443/b.git"));
  CHECK_FALSE(kiwi::same_endpoint("https://git.example.com/a.git", "http://git.example.com/a.git"));
  CHECK_FALSE(kiwi::same_endpoint("http://127.0.0.1:80/a", "http://localhost:80/a"));
  CHECK_FALSE(kiwi::same_endpoint("harbor.example.com", "harbor.example.com:5000"));
  CHECK(kiwi::same_endpoint("harbor.example.com", "https://harbor.example.com"));
  CHECK(kiwi::parse_url_authority("https://tok@h/x")->userinfo == "tok");
  CHECK(kiwi::endpoint_of("ssh://git:pw@[::1]/r.git") == "[::1]:22");
}

TEST_CASE("a kept secret stays only while its host stays") {
  kiwi::service_config stored;
  stored.git_url = "https://git.example.com/team/app.git";
  stored.token = "kept-token-0001";
  stored.webhook_secret = "kept-webhook-secret";
  nlohmann::json same{{"git_url", "https://git.example.com/team/other.git"}, {"token", "***"}};
  kiwi::keep_secrets(same, stored);
  CHECK(same["token"] == "kept-token-0001");
  CHECK(same["webhook_secret"] == "kept-webhook-secret");
  nlohmann::json moved{{"git_url", "https://evil.example.net/team/app.git"}};
  CHECK_THROWS_AS(kiwi::keep_secrets(moved, stored), kiwi::field_error);
  try {
    kiwi::keep_secrets(moved, stored);
  } catch (const kiwi::field_error& e) {
    CHECK(e.field == "token");
    CHECK(std::string(e.what()).find("kept-token") == std::string::npos);
  }
  nlohmann::json resupplied{{"git_url", "https://evil.example.net/team/app.git"},
                            {"token", "new-token"}};
  kiwi::keep_secrets(resupplied, stored);
  CHECK(resupplied["token"] == "new-token");
}

TEST_CASE("a webhook install's api_url must be the git host's API") {
  CHECK(kiwi::forge_target_for("https://github.com/o/r.git", "", "").api_url ==
        "https://api.github.com");
  CHECK(kiwi::forge_target_for("https://github.com/o/r.git", "", "https://api.github.com/")
            .api_url == "https://api.github.com");
  CHECK(kiwi::forge_target_for("http://127.0.0.1:8081/g/p.git", "gitlab", "").api_url ==
        "http://127.0.0.1:8081/api/v4");
  CHECK(kiwi::forge_target_for("ssh://git@gitlab.corp.example:2222/g/p.git", "", "").api_url ==
        "https://gitlab.corp.example/api/v4");
  CHECK_THROWS_AS(kiwi::forge_target_for("https://github.com/o/r.git", "", "https://evil.example"),
                  kiwi::field_error);
  CHECK_THROWS_AS(
      kiwi::forge_target_for("https://gitlab.corp.example/g/p.git", "", "http://gitlab.corp.example/api/v4"),
      kiwi::field_error);
}
