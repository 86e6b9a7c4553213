// Registry "test": the v2 login flow against real docker-registry 2.8 servers (htpasswd Basic
// auth, token auth with a real Distribution token server, TLS with a self-signed certificate,
// plain http for an insecure registry), and the pure parts against the token-auth spec's
// recorded exchange (tests/fixtures/registry/).

#include <doctest/doctest.h>

#include "common/registry/registry_probe.hpp"
#include "common/security/crypto.hpp"
#include "probe_servers.hpp"

namespace fs = std::filesystem;
namespace test = kiwi::test;
using namespace std::chrono_literals;

namespace {

const std::string user = "kiwi-robot";
const std::string password = "UNIQUE-registry-pass-7f3a91";

kiwi::registry_config registry(const std::string& url, const std::string& u = user,
                               const std::string& p = password, bool insecure = false) {
  kiwi::registry_config r;
  r.name = "test-registry";
  r.url = url;
  r.username = u;
  r.password = p;
  r.insecure = insecure;
  return r;
}

std::string detail(const kiwi::connection_check& c, const std::string& key) {
  for (const auto& [k, v] : c.details) {
    if (k == key) return v;
  }
  return {};
}

// Neither the password nor anything derived from it is in what the user reads.
void check_no_secret(const kiwi::connection_check& c) {
  CHECK(c.message.find(password) == std::string::npos);
  CHECK(c.message.find(kiwi::base64_encode(user + ":" + password)) == std::string::npos);
  for (const auto& [k, v] : c.details) {
    CHECK(v.find(password) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("the recorded Bearer challenge of the token-auth spec parses into realm, service, scope") {
  const std::string headers =
      test::read_file(fs::path(KIWI_FIXTURES_DIR) / "registry" / "401-response-headers.txt");
  const auto at = headers.find("Www-Authenticate: ");
  REQUIRE(at != std::string::npos);
  const auto end = headers.find('\n', at);
  const std::string value = headers.substr(at + 18, end - at - 18);
  const auto c = kiwi::parse_auth_challenge(value);
  REQUIRE(c);
  CHECK(c->scheme == "bearer");
  CHECK(c->params.at("realm") == "https://auth.docker.io/token");
  CHECK(c->params.at("service") == "registry.docker.io");
  // The quoted scope keeps its comma.
  CHECK(c->params.at("scope") == "repository:samalba/my-app:pull,push");

  const auto basic = kiwi::parse_auth_challenge(R"(Basic realm="kiwi \"test\"")");
  REQUIRE(basic);
  CHECK(basic->scheme == "basic");
  CHECK(basic->params.at("realm") == "kiwi \"test\"");
  CHECK_FALSE(kiwi::parse_auth_challenge("  "));
}

TEST_CASE("the recorded token answer yields its token; access_token is read too") {
  const std::string body =
      test::read_file(fs::path(KIWI_FIXTURES_DIR) / "registry" / "token-response.json");
  const auto token = kiwi::bearer_token_of(body);
  REQUIRE(token);
  CHECK(token->starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiIs"));
  CHECK(kiwi::bearer_token_of(R"({"access_token":"abc"})") == std::optional<std::string>("abc"));
  CHECK_FALSE(kiwi::bearer_token_of(R"({"expires_in":60})"));
  CHECK_FALSE(kiwi::bearer_token_of("not json"));
}

TEST_CASE("registry URLs: explicit scheme wins, docker.io is registry-1, insecure adds http") {
  auto one = kiwi::registry_attempts(registry("http://registry.local:5000/"));
  REQUIRE(one.size() == 1);
  CHECK(one[0].base_url == "http://registry.local:5000");
  auto hub = kiwi::registry_attempts(registry("docker.io"));
  REQUIRE(hub.size() == 1);
  CHECK(hub[0].base_url == "https://registry-1.docker.io");
  CHECK(hub[0].verify_tls);
  CHECK(kiwi::registry_attempts(registry("index.docker.io"))[0].base_url ==
        "https://registry-1.docker.io");
  auto bare = kiwi::registry_attempts(registry("harbor.company.com"));
  REQUIRE(bare.size() == 1);
  CHECK(bare[0].base_url == "https://harbor.company.com");
  auto insecure = kiwi::registry_attempts(registry("registry.local:5000", "", "", true));
  REQUIRE(insecure.size() == 2);
  CHECK(insecure[0].base_url == "https://registry.local:5000");
  CHECK_FALSE(insecure[0].verify_tls);
  CHECK(insecure[1].base_url == "http://registry.local:5000");
}

TEST_CASE("Basic: a real docker-registry with htpasswd accepts the right password only") {
  test::temp_dir dir("kiwi-registry");
  test::docker_registry::options o;
  o.htpasswd_user = user;
  o.htpasswd_password = password;
  test::docker_registry reg(dir.path() / "registry", o);
  const std::string url = "http://" + reg.host();

  // The right password: authenticated with Basic, the API version reported.
  const auto good = kiwi::probe_registry(registry(url));
  REQUIRE_MESSAGE(good.ok, good.message);
  CHECK(good.message.starts_with("authenticated with Basic at " + url));
  CHECK(good.message.find("registry/2.0") != std::string::npos);
  CHECK(detail(good, "auth") == "basic");
  CHECK(detail(good, "api_version") == "registry/2.0");
  check_no_secret(good);

  // A wrong password and no credentials at all: exactly the authentication message.
  const auto wrong = kiwi::probe_registry(registry(url, user, "wrong-" + password));
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.error_kind == "authentication");
  CHECK(wrong.message == kiwi::registry_auth_failed_message);
  const auto anonymous = kiwi::probe_registry(registry(url, "", ""));
  CHECK(anonymous.message == kiwi::registry_auth_failed_message);

  // A bare host marked insecure: https fails (the registry speaks plain http), http works.
  const auto fallback = kiwi::probe_registry(registry(reg.host(), user, password, true));
  REQUIRE_MESSAGE(fallback.ok, fallback.message);
  CHECK(fallback.message.find("plain http") != std::string::npos);
  CHECK(detail(fallback, "endpoint") == url);

  // The same host not marked insecure: https only, and a message about TLS and what to do.
  const auto strict = kiwi::probe_registry(registry(reg.host()));
  CHECK_FALSE(strict.ok);
  CHECK(strict.error_kind == "certificate");
  CHECK(strict.message.find("insecure") != std::string::npos);
  CHECK(strict.message.find("CA") != std::string::npos);
}

TEST_CASE("anonymous access: a registry without auth is reported, credentials not checked") {
  test::temp_dir dir("kiwi-registry");
  test::docker_registry reg(dir.path() / "registry", {});
  const auto open = kiwi::probe_registry(registry("http://" + reg.host(), "", ""));
  REQUIRE_MESSAGE(open.ok, open.message);
  CHECK(open.message.starts_with("anonymous access allowed"));
  CHECK(open.message.find("not checked") == std::string::npos);
  const auto with_credentials = kiwi::probe_registry(registry("http://" + reg.host()));
  REQUIRE(with_credentials.ok);
  CHECK(with_credentials.message.find("the credentials were not checked") != std::string::npos);
}

TEST_CASE("TLS: a self-signed registry fails verification unless marked insecure") {
  test::temp_dir dir("kiwi-registry");
  const test::self_signed cert(dir.path() / "tls", "registry");
  test::docker_registry::options o;
  o.htpasswd_user = user;
  o.htpasswd_password = password;
  o.tls = &cert;
  test::docker_registry reg(dir.path() / "registry", o);

  const auto strict = kiwi::probe_registry(registry("https://" + reg.host()));
  CHECK_FALSE(strict.ok);
  CHECK(strict.error_kind == "certificate");
  CHECK(strict.message.find("certificate") != std::string::npos);
  CHECK(strict.message.find("insecure") != std::string::npos);

  // Insecure: TLS without verification, no fallback to http needed.
  const auto insecure = kiwi::probe_registry(registry(reg.host(), user, password, true));
  REQUIRE_MESSAGE(insecure.ok, insecure.message);
  CHECK(detail(insecure, "endpoint") == "https://" + reg.host());
  CHECK(insecure.message.find("plain http") == std::string::npos);
}

TEST_CASE("Bearer: a real docker-registry in token mode with a real token server") {
  test::temp_dir dir("kiwi-registry");
  const test::self_signed signer(dir.path() / "signer", "kiwi-token-signer");
  test::token_server tokens(dir.path() / "token", signer, user, password);
  test::docker_registry::options o;
  o.token_realm = tokens.realm();
  o.token_signer = &signer;
  test::docker_registry reg(dir.path() / "registry", o);
  const std::string url = "http://" + reg.host();

  // The right credentials: a token from the realm's host, accepted by the registry.
  const auto good = kiwi::probe_registry(registry(url));
  REQUIRE_MESSAGE(good.ok, good.message);
  const std::string realm_host = tokens.realm().substr(7, tokens.realm().size() - 7 - 6);
  CHECK(good.message.starts_with("authenticated with a Bearer token from " + realm_host));
  CHECK(detail(good, "auth") == "bearer");
  CHECK(detail(good, "token_service") == realm_host);
  check_no_secret(good);

  // Wrong credentials: the token service says 401, the user reads the one message.
  const auto wrong = kiwi::probe_registry(registry(url, user, "wrong-" + password));
  CHECK_FALSE(wrong.ok);
  CHECK(wrong.error_kind == "authentication");
  CHECK(wrong.message == kiwi::registry_auth_failed_message);
}

TEST_CASE("Bearer: a token signed by a key the registry does not trust is refused") {
  // The negative control of the case above: the registry really checks the signature.
  test::temp_dir dir("kiwi-registry");
  const test::self_signed trusted(dir.path() / "trusted", "kiwi-token-signer");
  const test::self_signed forger(dir.path() / "forger", "kiwi-token-forger");
  test::token_server tokens(dir.path() / "token", forger, user, password, "access_token");
  test::docker_registry::options o;
  o.token_realm = tokens.realm();
  o.token_signer = &trusted;
  test::docker_registry reg(dir.path() / "registry", o);
  const auto forged = kiwi::probe_registry(registry("http://" + reg.host()));
  CHECK_FALSE(forged.ok);
  CHECK(forged.message == kiwi::registry_auth_failed_message);
}

TEST_CASE("no registry: unreachable, within the deadline") {
  const int port = test::free_port();
  const auto start = std::chrono::steady_clock::now();
  const auto none = kiwi::probe_registry(registry("http://127.0.0.1:" + std::to_string(port)));
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK_FALSE(none.ok);
  CHECK(none.error_kind == "unreachable");
  CHECK(none.message.starts_with("Registry unreachable: cannot reach the registry at http://127.0.0.1:"));

  // A server that accepts and never answers: a timeout message before the deadline ends.
  test::blackhole hole;
  const auto t0 = std::chrono::steady_clock::now();
  const auto silent = kiwi::probe_registry(
      registry("http://127.0.0.1:" + std::to_string(hole.port())), 2s);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(silent.error_kind == "timeout");
  CHECK(silent.message.starts_with("Registry unreachable: "));
}

TEST_CASE("a server that is not a registry: 404 on /v2/ says so") {
  test::temp_dir dir("kiwi-registry");
  // The token server answers 404 to every path but /token.
  const test::self_signed signer(dir.path() / "signer", "kiwi-token-signer");
  test::token_server tokens(dir.path() / "token", signer, user, password);
  const std::string origin = tokens.realm().substr(0, tokens.realm().size() - 6);
  const auto not_registry = kiwi::probe_registry(registry(origin));
  CHECK_FALSE(not_registry.ok);
  CHECK(not_registry.error_kind == "not_found");
  CHECK(not_registry.message.find("is not a Docker registry") != std::string::npos);
}
