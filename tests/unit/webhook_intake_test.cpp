#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/security/webhook_signature.hpp"
#include "daemon/webhook_intake.hpp"

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(KIWI_FIXTURES_DIR) + "/" + name);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string secret = "it-is-a-webhook-secret";

kiwi::service_config service(std::string branch = "master") {
  kiwi::service_config s;
  s.name = "user-api";
  s.git_url = "https://github.com/Codertocat/Hello-World.git";
  s.branch = std::move(branch);
  s.webhook_secret = secret;
  return s;
}

kiwi::http_request github(const std::string& event, const std::string& body,
                          const std::string& key = secret) {
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.target("/hooks/github/user-api");
  req.set("X-GitHub-Event", event);
  req.set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  req.set("X-Hub-Signature-256", "sha256=" + kiwi::to_hex(kiwi::hmac_sha256(key, body)));
  req.body() = body;
  return req;
}

kiwi::webhook_decision inspect(const kiwi::http_request& req, const kiwi::service_config& s,
                               kiwi::git_provider p = kiwi::git_provider::github) {
  return kiwi::inspect_webhook(p, s, req, std::chrono::system_clock::now());
}

std::string reason(const kiwi::webhook_decision& d) {
  auto j = nlohmann::json::parse(d.body);
  return j.contains("reason") ? j["reason"].get<std::string>() : j["error"].get<std::string>();
}

}  // namespace

TEST_CASE("a signed GitHub push to the service's branch becomes a job") {
  auto d = inspect(github("push", fixture("github/push_branch.json")), service());
  REQUIRE(d.job.has_value());
  CHECK(d.job->service == "user-api");
  CHECK(d.job->provider == "github");
  CHECK(d.job->delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  CHECK(d.job->queued_event.sha == "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
  CHECK(d.job->queued_event.ref == "refs/heads/master");
  CHECK(d.job->build_id.size() == 26);
}

TEST_CASE("GitHub ping answers 200 and queues nothing") {
  auto d = inspect(github("ping", fixture("github/ping.json")), service());
  CHECK_FALSE(d.job.has_value());
  CHECK(d.status == 200);
}

TEST_CASE("other GitHub events are ignored with a reason") {
  auto d = inspect(github("issues", fixture("github/issues_opened.json")), service());
  CHECK_FALSE(d.job.has_value());
  CHECK(d.status == 200);
  CHECK(reason(d).find("issues") != std::string::npos);
}

TEST_CASE("a wrong or missing signature is 401 and names the header, not the secret") {
  auto body = fixture("github/push_branch.json");
  auto d = inspect(github("push", body, "another-secret-entirely"), service());
  CHECK(d.status == 401);
  CHECK(reason(d).find("X-Hub-Signature-256") != std::string::npos);
  CHECK(d.body.find(secret) == std::string::npos);
  auto req = github("push", body);
  req.erase("X-Hub-Signature-256");
  d = inspect(req, service());
  CHECK(d.status == 401);
  CHECK(reason(d).find("missing") != std::string::npos);
}

TEST_CASE("a signed body that is not JSON is 400") {
  auto d = inspect(github("push", "{not json"), service());
  CHECK(d.status == 400);
}

TEST_CASE("a push to another branch is ignored") {
  auto d = inspect(github("push", fixture("github/push_branch.json")), service("main"));
  CHECK_FALSE(d.job.has_value());
  CHECK(d.status == 200);
  CHECK(reason(d).find("this service builds main") != std::string::npos);
}

TEST_CASE("tag pushes build only with build_tags") {
  auto req = github("push", fixture("github/push_tag.json"));
  auto d = inspect(req, service());
  CHECK_FALSE(d.job.has_value());
  CHECK(reason(d).find("build_tags") != std::string::npos);
  auto s = service();
  s.build_tags = true;
  d = inspect(req, s);
  REQUIRE(d.job.has_value());
  CHECK(d.job->queued_event.ref == "refs/tags/simple-tag");
}

TEST_CASE("a branch deletion is ignored") {
  auto j = nlohmann::json::parse(fixture("github/push_branch.json"));
  j["deleted"] = true;
  j["after"] = std::string(40, '0');
  auto d = inspect(github("push", j.dump()), service());
  CHECK_FALSE(d.job.has_value());
  CHECK(reason(d).find("deleted") != std::string::npos);
}

TEST_CASE("a push whose every commit says [skip ci] is ignored") {
  auto j = nlohmann::json::parse(fixture("github/push_branch.json"));
  for (auto& c : j["commits"]) {
    c["message"] = "docs: typo [skip ci]";
  }
  auto d = inspect(github("push", j.dump()), service());
  CHECK_FALSE(d.job.has_value());
  CHECK(reason(d).find("skip") != std::string::npos);
}

TEST_CASE("GitLab: X-Gitlab-Token push hook becomes a job; wrong token is 401") {
  auto body = fixture("gitlab/push_branch.json");
  auto branch = nlohmann::json::parse(body)["ref"].get<std::string>().substr(11);
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.set("X-Gitlab-Event", "Push Hook");
  req.set("X-Gitlab-Token", secret);
  req.set("X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e");
  req.body() = body;
  auto d = inspect(req, service(branch), kiwi::git_provider::gitlab);
  REQUIRE(d.job.has_value());
  CHECK(d.job->delivery_id == "13792a34-cac6-4fda-95a8-c58e00a3954e");
  req.set("Idempotency-Key", "key-1");
  CHECK(inspect(req, service(branch), kiwi::git_provider::gitlab).job->delivery_id == "key-1");
  req.set("X-Gitlab-Token", "wrong-token-value");
  d = inspect(req, service(branch), kiwi::git_provider::gitlab);
  CHECK(d.status == 401);
  CHECK(d.body.find(secret) == std::string::npos);
}

TEST_CASE("GitLab signed webhooks are verified, including the timestamp window") {
  auto body = fixture("gitlab/push_branch.json");
  auto branch = nlohmann::json::parse(body)["ref"].get<std::string>().substr(11);
  auto now = std::chrono::system_clock::now();
  auto ts = std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                               now.time_since_epoch()).count());
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.set("X-Gitlab-Event", "Push Hook");
  req.set("webhook-id", "msg_1");
  req.set("webhook-timestamp", ts);
  req.set("webhook-signature",
          "v1," + kiwi::base64_encode(kiwi::hmac_sha256(secret, "msg_1." + ts + "." + body)));
  req.body() = body;
  CHECK(kiwi::inspect_webhook(kiwi::git_provider::gitlab, service(branch), req, now).job);
  auto late = now + std::chrono::minutes(6);
  auto d = kiwi::inspect_webhook(kiwi::git_provider::gitlab, service(branch), req, late);
  CHECK(d.status == 401);
  CHECK(reason(d).find("5 minutes") != std::string::npos);
}

TEST_CASE("GitLab tag push hook builds only with build_tags") {
  auto body = fixture("gitlab/push_tag.json");
  kiwi::http_request req;
  req.method(boost::beast::http::verb::post);
  req.set("X-Gitlab-Event", "Tag Push Hook");
  req.set("X-Gitlab-Token", secret);
  req.body() = body;
  auto s = service();
  CHECK_FALSE(inspect(req, s, kiwi::git_provider::gitlab).job);
  s.build_tags = true;
  auto d = inspect(req, s, kiwi::git_provider::gitlab);
  REQUIRE(d.job);
  CHECK(d.job->queued_event.ref.starts_with("refs/tags/"));
}
