#include "daemon/webhook/github.hpp"

#include <doctest/doctest.h>

#include <cctype>
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
using kiwi::webhook::github::verify_signature;

kiwi::http_request github(const std::string& event, const std::string& body,
                          const std::string& key = webhook_secret) {
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.target("/hooks/github/user-api");
  req.set("X-GitHub-Event", event);
  req.set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  req.set("X-Hub-Signature-256", "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(key, body)));
  req.body() = body;
  return req;
}

intake_decision inspect(const kiwi::http_request& req, const kiwi::service_config& s) {
  return kiwi::webhook::github::intake(req, s, std::chrono::system_clock::now());
}

}  // namespace

TEST_CASE("github signature: documented example and a real fixture body verify") {
  // Intent: X-Hub-Signature-256 validates against GitHub's docs vector and over a fixture body.
  CHECK(verify_signature(
            "It's a Secret to Everybody", "Hello, World!",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17") ==
        signature_status::valid);

  const std::string body = read_fixture("github/push_branch.json");
  const std::string secret = "kiwi-test-secret";
  const std::string header = "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(secret, body));
  CHECK(verify_signature(secret, body, header) == signature_status::valid);

  std::string upper = header;
  for (std::size_t i = 7; i < upper.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[i])));
  }
  CHECK(verify_signature(secret, body, upper) == signature_status::valid);
}

TEST_CASE("github signature: tampered body or wrong secret is a mismatch") {
  // Intent: any change to body or secret fails verification.
  std::string body = read_fixture("github/push_branch.json");
  const std::string secret = "kiwi-test-secret";
  const std::string header = "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(secret, body));
  CHECK(verify_signature("other-secret", body, header) == signature_status::mismatch);
  body[body.find("master")] = 'M';
  CHECK(verify_signature(secret, body, header) == signature_status::mismatch);
  CHECK(verify_signature("", "", "sha256=" + kiwi::to_hex(kiwi::hmac_sha256("", ""))) ==
        signature_status::mismatch);
}

TEST_CASE("github signature: missing and malformed headers") {
  // Intent: absent header is missing; wrong prefix, length or non-hex is malformed.
  const std::string hex64(64, 'a');
  CHECK(verify_signature("s", "b", "") == signature_status::missing);
  CHECK(verify_signature("s", "b", hex64) == signature_status::malformed);
  CHECK(verify_signature("s", "b", "sha1=" + std::string(40, 'a')) ==
        signature_status::malformed);
  CHECK(verify_signature("s", "b", "sha256=" + std::string(63, 'a')) ==
        signature_status::malformed);
  CHECK(verify_signature("s", "b", "sha256=" + std::string(65, 'a')) ==
        signature_status::malformed);
  CHECK(verify_signature("s", "b", "sha256=" + std::string(63, 'a') + "g") ==
        signature_status::malformed);
  CHECK(verify_signature("s", "b", "SHA256=" + hex64) == signature_status::malformed);
}


TEST_CASE("a signed GitHub push to the service's branch becomes a job") {
  auto d = inspect(github("push", read_fixture("github/push_branch.json")), webhook_service());
  REQUIRE(d.job.has_value());
  CHECK(d.job->service == "user-api");
  CHECK(d.job->provider == "github");
  CHECK(d.job->delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  CHECK(d.job->queued_event.sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  CHECK(d.job->queued_event.ref == "refs/heads/master");
  CHECK(d.job->build_id.size() == 26);
}

TEST_CASE("GitHub ping answers 200 and queues nothing") {
  auto d = inspect(github("ping", read_fixture("github/ping.json")), webhook_service());
  CHECK_FALSE(d.job.has_value());
  CHECK(d.status == 200);
}

TEST_CASE("other GitHub events are ignored with a reason") {
  auto d = inspect(github("issues", read_fixture("github/issues_opened.json")), webhook_service());
  CHECK_FALSE(d.job.has_value());
  CHECK(d.status == 200);
  CHECK(reason(d).find("issues") != std::string::npos);
}

TEST_CASE("a wrong or missing signature is 401 and names the header, not the secret") {
  auto body = read_fixture("github/push_branch.json");
  auto d = inspect(github("push", body, "another-secret-entirely"), webhook_service());
  CHECK(d.status == 401);
  CHECK(reason(d).find("X-Hub-Signature-256") != std::string::npos);
  CHECK(d.body.find(webhook_secret) == std::string::npos);
  auto req = github("push", body);
  req.erase("X-Hub-Signature-256");
  d = inspect(req, webhook_service());
  CHECK(d.status == 401);
  CHECK(reason(d).find("missing") != std::string::npos);
}

TEST_CASE("a signed body that is not JSON is 400") {
  auto d = inspect(github("push", "{not json"), webhook_service());
  CHECK(d.status == 400);
}

TEST_CASE("a push to another branch is ignored") {
  auto d = inspect(github("push", read_fixture("github/push_branch.json")), webhook_service("main"));
  CHECK_FALSE(d.job.has_value());
  CHECK(d.status == 200);
  CHECK(reason(d).find("this service builds main") != std::string::npos);
}

TEST_CASE("tag pushes build only with build_tags") {
  auto req = github("push", read_fixture("github/push_tag.json"));
  auto d = inspect(req, webhook_service());
  CHECK_FALSE(d.job.has_value());
  CHECK(reason(d).find("build_tags") != std::string::npos);
  auto s = webhook_service();
  s.build_tags = true;
  d = inspect(req, s);
  REQUIRE(d.job.has_value());
  CHECK(d.job->queued_event.ref == "refs/tags/simple-tag");
}

TEST_CASE("a branch deletion is ignored") {
  auto j = nlohmann::json::parse(read_fixture("github/push_branch.json"));
  j["deleted"] = true;
  j["after"] = std::string(40, '0');
  auto d = inspect(github("push", j.dump()), webhook_service());
  CHECK_FALSE(d.job.has_value());
  CHECK(reason(d).find("deleted") != std::string::npos);
}

TEST_CASE("a push whose every commit says [skip ci] is ignored") {
  auto j = nlohmann::json::parse(read_fixture("github/push_branch.json"));
  for (auto& c : j["commits"]) {
    c["message"] = "docs: typo [skip ci]";
  }
  auto d = inspect(github("push", j.dump()), webhook_service());
  CHECK_FALSE(d.job.has_value());
  CHECK(reason(d).find("skip") != std::string::npos);
}
