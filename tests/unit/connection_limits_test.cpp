#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "daemon/connection_limits.hpp"
#include "daemon/http_types.hpp"

namespace {

kiwi::admission_settings small() {
  kiwi::admission_settings s;
  s.max_connections = 4;
  s.max_connections_per_client = 2;
  s.max_buffered_body_bytes = 100;
  s.max_event_streams_per_client = 1;
  return s;
}

}  // namespace

// One address holds at most its share; the others still get in; slots come back with the lease.
TEST_CASE("connection leases: per-client share, total cap, given back when destroyed") {
  kiwi::connection_limits limits(small());
  using refusal = kiwi::connection_limits::refusal;
  refusal why{};
  auto a1 = limits.admit_connection("10.0.0.1");
  auto a2 = limits.admit_connection("10.0.0.1");
  CHECK(a1);
  CHECK(a2);
  CHECK_FALSE(limits.admit_connection("10.0.0.1", &why));
  CHECK(why == refusal::per_client);
  auto b1 = limits.admit_connection("10.0.0.2");
  auto b2 = limits.admit_connection("10.0.0.2");
  CHECK(limits.open_connections().load() == 4);
  CHECK(limits.crowded());
  CHECK_FALSE(limits.admit_connection("10.0.0.3", &why));
  CHECK(why == refusal::total);
  {
    auto moved = std::move(a1);  // a moved lease gives its slot back once
  }
  CHECK(limits.open_connections().load() == 3);
  CHECK(limits.admit_connection("10.0.0.1"));  // destroyed at once: back to 3
  CHECK(limits.open_connections().load() == 3);
}

// Bodies reserve their bytes from one budget; a reservation past it is refused.
TEST_CASE("body reservations stay within max_buffered_body_bytes") {
  kiwi::connection_limits limits(small());
  auto x = limits.reserve_body(60);
  CHECK(x);
  CHECK_FALSE(limits.reserve_body(41));
  auto y = limits.reserve_body(40);
  CHECK(y);
  x.release();
  CHECK(limits.reserve_body(60));
  CHECK_FALSE(limits.reserve_body(101));
}

TEST_CASE("event streams per client address") {
  kiwi::connection_limits limits(small());
  auto s = limits.admit_stream("10.0.0.1");
  CHECK(s);
  CHECK_FALSE(limits.admit_stream("10.0.0.1"));
  CHECK(limits.admit_stream("10.0.0.2"));
  s.release();
  CHECK(limits.admit_stream("10.0.0.1"));
}

// An echoed target that is not UTF-8 must not throw (it took sessions down before issue 14).
TEST_CASE("error answers replace bytes that are not UTF-8") {
  kiwi::http_request req;
  req.version(11);
  auto res = kiwi::error_response(req, 404, "no such endpoint /\xff\xfe");
  auto body = nlohmann::json::parse(res.body());
  CHECK(body["error"] == "no such endpoint /\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(kiwi::loggable("GET /\xff\n") == "GET /??");
}
