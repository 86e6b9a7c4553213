#include "daemon/webhook/gitlab.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/security/crypto.hpp"
#include "tests/unit/webhook_fixtures.hpp"

namespace {

using kiwi::test::read_fixture;
using kiwi::test::reason;
using kiwi::test::webhook_secret;
using kiwi::test::webhook_service;
using kiwi::webhook::intake_decision;
using kiwi::webhook::signature_status;
using kiwi::webhook::to_string;
using kiwi::webhook::gitlab::verify_signature;
using kiwi::webhook::gitlab::verify_token;
using namespace std::chrono_literals;

std::chrono::system_clock::time_point at_unix(std::int64_t seconds) {
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

// Standard Webhooks reference vector (spec and its libraries' tests).
constexpr const char* sw_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* sw_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr const char* sw_timestamp = "1614265330";
constexpr const char* sw_body = "{\"test\": 2432232314}";
constexpr const char* sw_signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const auto sw_now = at_unix(1614265330);

// Signs like GitLab does, for a raw (non-whsec) secret.
std::string gitlab_sign(const std::string& secret, const std::string& id, const std::string& ts,
                        const std::string& body) {
  return "v1," + kiwi::base64_encode(kiwi::hmac_sha256(secret, id + "." + ts + "." + body));
}

intake_decision inspect(const kiwi::http_request& req, const kiwi::service_config& s,
                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
  return kiwi::webhook::gitlab::intake(req, s, now);
}

}  // namespace

TEST_CASE("gitlab token: right, wrong and missing") {
  // Intent: X-Gitlab-Token is compared to the secret; empty secret never matches.
  CHECK(verify_token("tok-123", "tok-123") == signature_status::valid);
  CHECK(verify_token("tok-123", "tok-124") == signature_status::mismatch);
  CHECK(verify_token("tok-123", "tok-1234") == signature_status::mismatch);
  CHECK(verify_token("tok-123", "") == signature_status::missing);
  CHECK(verify_token("", "anything") == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: Standard Webhooks reference vector verifies") {
  // Intent: whsec_ secrets are base64-decoded into the HMAC key, as the spec and GitLab require.
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      sw_now) == signature_status::valid);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, "{\"test\": 2432232315}",
                                      sw_signature, sw_now) == signature_status::mismatch);
  CHECK(verify_signature(sw_secret, "msg_other", sw_timestamp, sw_body,
                                      sw_signature, sw_now) == signature_status::mismatch);
  CHECK(verify_signature("whsec_not base64!", sw_id, sw_timestamp, sw_body,
                                      sw_signature, sw_now) == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: valid over a real fixture body with a raw secret") {
  // Intent: signature over "<id>.<timestamp>.<body>" of the GitLab push fixture verifies.
  const std::string body = read_fixture("gitlab/push_branch.json");
  const std::string id = "9f2d6c1e-5a4b-4f3e-8d7c-0b1a2c3d4e5f";
  const std::string ts = "1700000000";
  const std::string header = gitlab_sign("signing-secret", id, ts, body);
  CHECK(verify_signature("signing-secret", id, ts, body, header,
                                      at_unix(1700000000)) == signature_status::valid);
  CHECK(verify_signature("signing-secret", id, ts, body + " ", header,
                                      at_unix(1700000000)) == signature_status::mismatch);
  CHECK(verify_signature("other-secret", id, ts, body, header,
                                      at_unix(1700000000)) == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: any one valid signature among several is enough") {
  // Intent: space-separated list (key rotation); second entry valid, unknown versions ignored.
  const std::string wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body,
                                      wrong + " " + sw_signature, sw_now) ==
        signature_status::valid);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body,
                                      "v1a,c29tZXRoaW5n " + std::string(sw_signature), sw_now) ==
        signature_status::valid);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, wrong + " " + wrong,
                                      sw_now) == signature_status::mismatch);
}

TEST_CASE("gitlab signed webhook: timestamps outside the 5 minute window are stale") {
  // Intent: 6 minutes old or 6 minutes ahead is rejected; 4 minutes either way is accepted.
  auto ts = at_unix(1614265330);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts + 6min) == signature_status::stale_timestamp);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts - 6min) == signature_status::stale_timestamp);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts + 4min) == signature_status::valid);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts - 4min) == signature_status::valid);
  CHECK(verify_signature(sw_secret, sw_id, sw_timestamp, sw_body, sw_signature,
                                      ts + 6min, 10min) == signature_status::valid);
}

TEST_CASE("gitlab signed webhook: missing and malformed headers") {
  // Intent: absent id/timestamp/signature is missing; non-numeric timestamp or bad entries malformed.
  auto check = [](std::string_view ts, std::string_view sig) {
    return verify_signature(sw_secret, sw_id, ts, sw_body, sig, sw_now);
  };
  CHECK(check(sw_timestamp, "") == signature_status::missing);
  CHECK(check("", sw_signature) == signature_status::missing);
  CHECK(verify_signature(sw_secret, "", sw_timestamp, sw_body, sw_signature,
                                      sw_now) == signature_status::missing);
  CHECK(check("16142653x0", sw_signature) == signature_status::malformed);
  CHECK(check("-1614265330", sw_signature) == signature_status::malformed);
  CHECK(check("99999999999999999999999", sw_signature) == signature_status::malformed);
  CHECK(check(sw_timestamp, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") ==
        signature_status::malformed);
  CHECK(check(sw_timestamp, "v1,") == signature_status::malformed);
  CHECK(check(sw_timestamp, "v1a,c29tZXRoaW5n") == signature_status::malformed);
}

TEST_CASE("signature_status names are stable") {
  // Intent: to_string gives the log/metric label of each status.
  CHECK(to_string(signature_status::valid) == "valid");
  CHECK(to_string(signature_status::missing) == "missing");
  CHECK(to_string(signature_status::malformed) == "malformed");
  CHECK(to_string(signature_status::mismatch) == "mismatch");
  CHECK(to_string(signature_status::stale_timestamp) == "stale_timestamp");
}

TEST_CASE("GitLab: X-Gitlab-Token push hook becomes a job; wrong token is 401") {
  auto body = read_fixture("gitlab/push_branch.json");
  auto branch = nlohmann::json::parse(body)["ref"].get<std::string>().substr(11);
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.set("X-Gitlab-Event", "Push Hook");
  req.set("X-Gitlab-Token", webhook_secret);
  req.set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e");
  req.body() = body;
  auto d = inspect(req, webhook_service(branch));
  REQUIRE(d.job.has_value());
  CHECK(d.job->delivery_id == "13792a34-cac6-4fda-95a8-c58e00a3954e");
  req.set("Idempotency-Key", "key-1");
  CHECK(inspect(req, webhook_service(branch)).job->delivery_id == "key-1");
  req.set("X-Gitlab-Token", "wrong-token-value");
  d = inspect(req, webhook_service(branch));
  CHECK(d.status == 401);
  CHECK(d.body.find(webhook_secret) == std::string::npos);
}

TEST_CASE("GitLab signed webhooks are verified, including the timestamp window") {
  auto body = read_fixture("gitlab/push_branch.json");
  auto branch = nlohmann::json::parse(body)["ref"].get<std::string>().substr(11);
  auto now = std::chrono::system_clock::now();
  auto ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               now.time_since_epoch()).count());
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.set("X-Gitlab-Event", "Push Hook");
  req.set("webhook-id", "msg_1");
  req.set("webhook-timestamp", ts);
  req.set("webhook-signature", gitlab_sign(webhook_secret, "msg_1", ts, body));
  req.body() = body;
  CHECK(inspect(req, webhook_service(branch), now).job);
  auto late = now + std::chrono::minutes(6);
  auto d = inspect(req, webhook_service(branch), late);
  CHECK(d.status == 401);
  CHECK(reason(d).find("5 minutes") != std::string::npos);
}

TEST_CASE("GitLab tag push hook builds only with build_tags") {
  auto body = read_fixture("gitlab/push_tag.json");
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.set("X-Gitlab-Event", "Tag Push Hook");
  req.set("X-Gitlab-Token", webhook_secret);
  req.body() = body;
  auto s = webhook_service();
  CHECK_FALSE(inspect(req, s).job);
  s.build_tags = true;
  auto d = inspect(req, s);
  REQUIRE(d.job);
  CHECK(d.job->queued_event.ref.starts_with("refs/tags/"));
}
