#include <doctest/doctest.h>

#include "daemon/api_auth.hpp"

#include <vector>

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
  auto fail_once = [&](const std::string& address) {
    auto a = t.begin(address, now);
    REQUIRE_FALSE(a.refused());
    a.failed(now);
    return a.wait();
  };
  CHECK(fail_once("10.0.0.1") == 0ms);  // a typo or two costs nothing
  CHECK(fail_once("10.0.0.1") == 0ms);
  CHECK(fail_once("10.0.0.1") == 250ms);  // the third attempt waits
  now += 250ms;
  CHECK(fail_once("10.0.0.1") == 500ms);
  now += 10s;
  for (int i = 0; i < 10; ++i) {
    now += 5s;
    fail_once("10.0.0.1");
  }
  now += 5s;
  CHECK(t.begin("10.0.0.1", now).wait() == 4000ms);  // capped
  CHECK(t.begin("10.0.0.2", now).wait() == 0ms);     // another address is not affected
  CHECK(t.begin("10.0.0.1", now + 70s).wait() == 0ms);  // quiet for a window: forgotten
}

// Parallel attempts queue behind each other; past the cap they are refused unchecked.
TEST_CASE("parallel bad tokens from one address do not multiply the guesses") {
  kiwi::auth_throttle t(60s, 4000ms);
  const auto now = kiwi::auth_throttle::clock::now();
  std::vector<kiwi::auth_throttle::attempt> in_flight;
  int refused = 0;
  for (int i = 0; i < 300; ++i) {
    auto a = t.begin("10.0.0.1", now);
    if (a.refused()) {
      ++refused;
      CHECK(a.retry_after() >= 4s);
    } else {
      in_flight.push_back(std::move(a));
    }
  }
  CHECK(in_flight.size() <= 16);
  CHECK(refused == 300 - static_cast<int>(in_flight.size()));
  for (auto& a : in_flight) {
    a.failed(now);
  }
}

// A good token does not clear the record: the next guess still waits.
TEST_CASE("a good token does not reset the bad-token record") {
  kiwi::auth_throttle t(60s, 4000ms);
  auto now = kiwi::auth_throttle::clock::now();
  for (int i = 0; i < 4; ++i) {
    now += 5s;
    t.begin("10.0.0.3", now).failed(now);
  }
  now += 5s;
  { auto good = t.begin("10.0.0.3", now); }  // checked, not failed
  now += 5s;
  CHECK(t.begin("10.0.0.3", now).wait() > 0ms);
}
