// The resource store against a real redis-server: secrets are sealed at rest (Redis is read
// directly and holds no plaintext), come back intact with the right key, and a wrong key says
// what to do.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/redis/redis_keys.hpp"
#include "common/store/resource_store.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

kiwi::service_config service_with_secrets() {
  kiwi::parse_context ctx;
  ctx.webhook_secret_required = false;
  return kiwi::parse_service({{"name", "user-api"},
                              {"git_url", "https://gitlab.com/company/user-api.git"},
                              {"branch", "main"},
                              {"token", "glpat-SECRET-token-123"},
                              {"webhook_secret", "hook-SECRET-0123456789"}},
                             ctx);
}

}  // namespace

TEST_CASE("stored resources keep their secrets sealed in Redis") {
  kiwi::test::redis_fixture f;
  kiwi::secret_box box(std::string(32, 'k'));
  kiwi::resource_store store(f.redis, &box, 2s);

  const auto svc = service_with_secrets();
  CHECK(f.run(store.put(svc, true)).second);
  CHECK_FALSE(f.run(store.put(svc, true)).second);  // create: the name is taken
  CHECK(f.run(store.put(svc, false)).second);       // replace

  kiwi::registry_config reg;
  reg.name = "harbor-main";
  reg.url = "harbor.company.com";
  reg.username = "robot$ci";
  reg.password = "harbor-SECRET-pw";
  CHECK(f.run(store.put(reg, true)).second);

  // Everything Redis holds, read directly: no secret in plaintext, nor its base64.
  std::string everything;
  for (const char* kind : {"services", "registries"}) {
    auto all = f.command(kiwi::redis_args("HGETALL", kiwi::keys::resources(kind)));
    for (const auto& e : all.elements) everything += e.str + "\n";
  }
  CHECK(everything.find("user-api") != std::string::npos);
  for (const char* secret : {"glpat-SECRET-token-123", "hook-SECRET-0123456789",
                             "harbor-SECRET-pw", "SECRET"}) {
    CHECK_MESSAGE(everything.find(secret) == std::string::npos, secret);
  }
  CHECK(everything.find("kiwi-secret:v1:" + box.key_id()) != std::string::npos);

  auto [ec, back] = f.run(store.service("user-api"));
  REQUIRE(!ec);
  REQUIRE(back.has_value());
  CHECK(back->token == "glpat-SECRET-token-123");
  CHECK(back->webhook_secret == "hook-SECRET-0123456789");
  CHECK(f.run(store.registries()).second.at(0).password == "harbor-SECRET-pw");
  CHECK_FALSE(f.run(store.service("nope")).second.has_value());

  // Another key cannot open them, and the error names both keys, never a secret.
  kiwi::secret_box other(std::string(32, 'o'));
  kiwi::resource_store wrong(f.redis, &other, 2s);
  try {
    f.run(wrong.service("user-api"));
    FAIL("a secret opened with the wrong key");
  } catch (const kiwi::secret_store_error& e) {
    const std::string what = e.what();
    CHECK(what.find(box.key_id()) != std::string::npos);
    CHECK(what.find(other.key_id()) != std::string::npos);
    CHECK(what.find("SECRET") == std::string::npos);
  }
  // Without a key, a resource with secrets is refused rather than stored in plaintext.
  kiwi::resource_store keyless(f.redis, nullptr, 2s);
  CHECK_THROWS_AS(f.run(keyless.put(reg, false)), kiwi::secret_store_error);

  CHECK(f.run(store.remove(kiwi::resource_kind::service, "user-api")).second);
  CHECK_FALSE(f.run(store.remove(kiwi::resource_kind::service, "user-api")).second);
}

TEST_CASE("re-encryption moves every stored secret to the new key") {
  kiwi::test::redis_fixture f;
  kiwi::secret_box old_key(std::string(32, 'a'));
  kiwi::secret_box new_key(std::string(32, 'b'));
  kiwi::resource_store before(f.redis, &old_key, 2s);
  const auto svc = service_with_secrets();
  REQUIRE(f.run(before.put(svc, true)).second);

  kiwi::resource_store after(f.redis, &new_key, 2s);
  CHECK_THROWS_AS(f.run(after.service("user-api")), kiwi::secret_store_error);
  auto [ec, count] = f.run(after.reseal_all(old_key));
  CHECK(!ec);
  CHECK(count == 2);  // token and webhook secret
  auto back = f.run(after.service("user-api")).second;
  REQUIRE(back.has_value());
  CHECK(back->token == "glpat-SECRET-token-123");
  CHECK_THROWS_AS(f.run(before.service("user-api")), kiwi::secret_store_error);
  CHECK(f.run(after.reseal_all(old_key)).second == 0);  // nothing left to move
}
