// ssh_known_hosts: validation (named field errors), matching as OpenSSH matches, fingerprints
// as ssh-keygen prints them, and the service JSON that carries it.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/config/resources.hpp"
#include "common/git/ssh_known_hosts.hpp"
#include "common/security/crypto.hpp"
#include "tests/unit/git_servers.hpp"

namespace test = kiwi::test;
namespace ssh = kiwi::ssh;
using json = nlohmann::json;

namespace {

// A host key made by ssh-keygen: its .pub line, fingerprint and raw blob's digest.
struct host_key {
  test::temp_dir dir{"kiwi-known-hosts"};
  std::string type_and_key;  // "ssh-ed25519 AAAA..."
  std::string fingerprint;   // "SHA256:..."
  std::string digest;        // SHA-256 of the blob

  host_key() {
    test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir.path() / "k").string()});
    const std::string pub = test::read_file(dir.path() / "k.pub");
    type_and_key = pub.substr(0, pub.rfind(' '));
    const std::string listed =
        test::run({"ssh-keygen", "-l", "-E", "sha256", "-f", (dir.path() / "k.pub").string()});
    const auto at = listed.find("SHA256:");
    fingerprint = listed.substr(at, listed.find(' ', at) - at);
    // base64 of the blob is the second field; decode it through OpenSSL via the fingerprint's
    // own definition: sha256(blob).
    const std::string b64 = type_and_key.substr(type_and_key.find(' ') + 1);
    test::write_file(dir.path() / "b64", b64 + "\n");
    const std::string blob = test::run({"openssl", "base64", "-d", "-A", "-in",
                                        (dir.path() / "b64").string()});
    digest = kiwi::sha256(blob);
  }
};

// The API's context: no files, the webhook secret is generated.
kiwi::parse_context api_context() {
  kiwi::parse_context ctx;
  ctx.webhook_secret_required = false;
  return ctx;
}

std::string field_error_of(const json& j) {
  try {
    kiwi::parse_service(j, api_context());
  } catch (const kiwi::field_error& e) {
    return e.field + ": " + e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("fingerprints and matching follow OpenSSH: ports, wildcards, negation, hashed names") {
  host_key key;
  host_key other;
  CHECK(ssh::fingerprint(key.digest) == key.fingerprint);
  CHECK(ssh::host_label("git.example.com", 22) == "git.example.com");
  CHECK(ssh::host_label("127.0.0.1", 2222) == "[127.0.0.1]:2222");

  const std::string line = "[127.0.0.1]:2222 " + key.type_and_key;
  CHECK(ssh::known_hosts_match(line, "127.0.0.1", 2222, key.digest));
  CHECK_FALSE(ssh::known_hosts_match(line, "127.0.0.1", 22, key.digest));    // other port
  CHECK_FALSE(ssh::known_hosts_match(line, "127.0.0.1", 2222, other.digest));  // other key
  CHECK(ssh::known_hosts_match("gitlab.example.com,10.0.0.5 " + key.type_and_key, "10.0.0.5", 22,
                               key.digest));
  CHECK(ssh::known_hosts_match("*.Example.COM " + key.type_and_key, "git.example.com", 22,
                               key.digest));
  CHECK_FALSE(ssh::known_hosts_match("*.example.com,!evil.example.com " + key.type_and_key,
                                     "evil.example.com", 22, key.digest));
  // A second line for the host (key rotation) is enough.
  CHECK(ssh::known_hosts_match("host " + other.type_and_key + "\nhost " + key.type_and_key +
                                   " comment\n",
                               "host", 22, key.digest));

  // ssh-keygen -H hashes the names; the hashed line still matches, only for that name.
  test::write_file(key.dir.path() / "known_hosts", line + "\n");
  test::run({"ssh-keygen", "-H", "-f", (key.dir.path() / "known_hosts").string()});
  const std::string hashed = test::read_file(key.dir.path() / "known_hosts");
  REQUIRE(hashed.starts_with("|1|"));
  CHECK(ssh::check_known_hosts(hashed).empty());
  CHECK(ssh::known_hosts_match(hashed, "127.0.0.1", 2222, key.digest));
  CHECK_FALSE(ssh::known_hosts_match(hashed, "127.0.0.2", 2222, key.digest));
}

TEST_CASE("ssh_known_hosts is validated with errors naming the field and the line") {
  host_key key;
  json service{{"name", "app"},
               {"git_url", "ssh://git@127.0.0.1:2222/srv/app.git"},
               {"branch", "main"}};
  auto with = [&](const std::string& known_hosts) {
    json j = service;
    j["ssh_known_hosts"] = known_hosts;
    return field_error_of(j);
  };
  CHECK(with("# comment\n\n[127.0.0.1]:2222 " + key.type_and_key + " laptop\n").empty());
  CHECK(with("[127.0.0.1]:2222 " + key.type_and_key).empty());
  CHECK(with("just-a-host").starts_with("ssh_known_hosts: line 1: expected \"host keytype"));
  CHECK(with("# c\nhost ssh-ed25519 not*base64").starts_with(
      "ssh_known_hosts: line 2: the key is not valid base64"));
  CHECK(with("host ssh-rsa " + key.type_and_key.substr(key.type_and_key.find(' ') + 1)) ==
        "ssh_known_hosts: line 1: the key is not a ssh-rsa public key");
  CHECK(with("@cert-authority *.example.com " + key.type_and_key)
            .starts_with("ssh_known_hosts: line 1: @cert-authority lines are not supported"));
  CHECK(with("|1|zz|yy " + key.type_and_key).starts_with("ssh_known_hosts: line 1: a hashed"));
  CHECK(with("# only a comment\n").starts_with("ssh_known_hosts: holds no host key line"));
  json https = service;
  https["git_url"] = "https://example.com/app.git";
  https["ssh_known_hosts"] = "host " + key.type_and_key;
  CHECK(field_error_of(https).starts_with("ssh_known_hosts: pins an SSH server's host key"));
}

TEST_CASE("the service JSON shows ssh_known_hosts as it is and the ssh key as ***") {
  host_key key;
  test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
             (key.dir.path() / "client").string()});
  const std::string private_key = test::read_file(key.dir.path() / "client");
  const std::string pinned = "[127.0.0.1]:2222 " + key.type_and_key;
  json j{{"name", "app"},
         {"git_url", "ssh://git@127.0.0.1:2222/srv/app.git"},
         {"branch", "main"},
         {"ssh_key", private_key},
         {"ssh_known_hosts", pinned}};
  const auto s = kiwi::parse_service(j, api_context());
  CHECK(s.ssh_known_hosts == pinned);
  const json shown = kiwi::to_json(s);
  CHECK(shown["ssh_key"] == "***");
  CHECK(shown["ssh_known_hosts"] == pinned);
  CHECK(shown.dump().find("PRIVATE KEY") == std::string::npos);
  // What the store keeps parses back to the same service.
  const json stored = kiwi::to_json(s, true);
  CHECK(kiwi::to_json(kiwi::parse_service(stored, api_context()),
                      true) == stored);
  // The public half inside the private key file is the .pub file's key.
  const std::string pub = test::read_file(key.dir.path() / "client.pub");
  CHECK(ssh::public_key_of(private_key) == pub.substr(0, pub.rfind(' ')));
}
