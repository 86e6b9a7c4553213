#include <doctest/doctest.h>

#include "common/api_auth.hpp"

using namespace std::chrono_literals;
using kiwi::api_role;

TEST_CASE("roles: admin > developer > viewer") {
  CHECK(kiwi::role_allows(api_role::admin, api_role::developer));
  CHECK(kiwi::role_allows(api_role::developer, api_role::viewer));
  CHECK_FALSE(kiwi::role_allows(api_role::viewer, api_role::developer));
  CHECK_FALSE(kiwi::role_allows(api_role::developer, api_role::admin));
  CHECK(kiwi::parse_api_role("developer") == api_role::developer);
  CHECK_FALSE(kiwi::parse_api_role("root").has_value());
}

TEST_CASE("tokens are random and only their hash is kept") {
  auto a = kiwi::generate_api_token();
  auto b = kiwi::generate_api_token();
  CHECK(a.size() == 45);
  CHECK(a.starts_with("kiwi_"));
  CHECK(a != b);
  auto h = kiwi::api_token_hash(a);
  CHECK(h.size() == 64);
  CHECK(h.find(a.substr(5)) == std::string::npos);
  CHECK(h == kiwi::api_token_hash(a));
  CHECK(kiwi::api_token_hash("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("repeated bad tokens from one address are slowed down; others are not") {
  kiwi::auth_throttle t(60s, 4000ms);
  auto now = kiwi::auth_throttle::clock::now();
  for (int i = 0; i < 2; ++i) {
    CHECK(t.delay_for("10.0.0.1", now) == 0ms);
    t.failed("10.0.0.1", now);
  }
  CHECK(t.delay_for("10.0.0.1", now) == 250ms);  // the third attempt waits
  t.failed("10.0.0.1", now);
  CHECK(t.delay_for("10.0.0.1", now) == 500ms);
  for (int i = 0; i < 10; ++i) t.failed("10.0.0.1", now);
  CHECK(t.delay_for("10.0.0.1", now) == 4000ms);  // capped
  CHECK(t.delay_for("10.0.0.2", now) == 0ms);     // another address is not affected
  CHECK(t.delay_for("10.0.0.1", now + 61s) == 0ms);  // quiet for a window: forgotten
  t.failed("10.0.0.3", now);
  t.failed("10.0.0.3", now);
  t.failed("10.0.0.3", now);
  t.succeeded("10.0.0.3");
  CHECK(t.delay_for("10.0.0.3", now) == 0ms);
}
