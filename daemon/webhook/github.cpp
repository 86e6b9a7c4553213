#include "daemon/webhook/github.hpp"

#include <nlohmann/json.hpp>

#include "common/security/crypto.hpp"
#include "daemon/webhook/push_payload.hpp"

namespace kiwi::webhook::github {

namespace {

constexpr std::string_view signature_prefix = "sha256=";

}  // namespace

intake_decision intake(const http_request& request, const service_config& service,
                       std::chrono::system_clock::time_point now) {
  auto sig = verify_signature(service.webhook_secret, request.body(),
                              header(request, "X-Hub-Signature-256"));
  if (sig != signature_status::valid) {
    return reject_signature(sig, "X-Hub-Signature-256");
  }
  std::string_view event = header(request, "X-GitHub-Event");
  if (event.empty()) {
    return reject(400, "X-GitHub-Event header is missing: is this a GitHub webhook?");
  }
  if (event == "ping") {
    if (nlohmann::json::parse(request.body(), nullptr, false).is_discarded()) {
      return reject(400, "body is not valid JSON");
    }
    return answer(200, nlohmann::json{{"status", "pong"}, {"service", service.name}}.dump());
  }
  if (event != "push") {
    return ignore("GitHub event \"" + std::string(event) +
                  "\" is not handled; subscribe the webhook to push events only");
  }
  auto parsed = parse_push(request.body());
  if (auto* message = std::get_if<std::string>(&parsed)) {
    return reject(400, *message);
  }
  return decide_push(service, std::get<push_event>(parsed), request.body(),
                     std::string(header(request, "X-GitHub-Delivery")), now);
}

signature_status verify_signature(std::string_view secret, std::string_view body,
                                  std::string_view header) {
  if (header.empty()) {
    return signature_status::missing;
  }
  if (!header.starts_with(signature_prefix) || header.size() != signature_prefix.size() + 64) {
    return signature_status::malformed;
  }
  auto given = hex_decode(header.substr(signature_prefix.size()));
  if (!given) {
    return signature_status::malformed;
  }
  // An empty secret never authenticates anything.
  if (secret.empty()) {
    return signature_status::mismatch;
  }
  return constant_time_equal(hmac_sha256(secret, body), *given) ? signature_status::valid
                                                                 : signature_status::mismatch;
}

push_parse_result parse_push(std::string_view body) {
  std::string error;
  auto doc = parse_object(body, error);
  if (!doc) {
    return error;
  }
  push_event ev;
  ev.provider = git_provider::github;
  std::optional<array> commits;
  if (auto e = read_push_fields(*doc, ev, commits)) {
    return *e;
  }

  if (auto deleted = member(*doc, "deleted")) {
    bool value = false;
    if (deleted->get_bool().get(value) != simdjson::SUCCESS) {
      return not_a("deleted", "a boolean");
    }
    ev.deleted = ev.deleted || value;
  }

  std::string head_message;
  if (auto e = read_nested_string(*doc, "head_commit", "message", "head_commit.message",
                                  head_message)) {
    return *e;
  }
  ev.head_message = first_line(head_message);

  if (auto e = read_nested_string(*doc, "pusher", "name", "pusher.name", ev.pusher)) {
    return *e;
  }
  if (auto e = require_nested_string(*doc, "repository", "full_name", "repository.full_name",
                                     ev.repository)) {
    return *e;
  }
  return ev;
}

}  // namespace kiwi::webhook::github
