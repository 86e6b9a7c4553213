#include "daemon/webhook/gitlab.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>

#include "common/security/crypto.hpp"
#include "daemon/webhook/push_payload.hpp"

namespace kiwi::webhook::gitlab {

namespace {

constexpr std::string_view standard_webhooks_secret_prefix = "whsec_";

// Standard Webhooks secrets are "whsec_<base64 key>"; anything else is used as raw bytes.
std::optional<std::string> standard_webhooks_key(std::string_view secret) {
  if (secret.starts_with(standard_webhooks_secret_prefix)) {
    return base64_decode(secret.substr(standard_webhooks_secret_prefix.size()));
  }
  return std::string(secret);
}

std::optional<std::int64_t> parse_unix_seconds(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty() || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// First line of a commit's message; commits were checked by read_push_fields.
std::string message_of(object commit) {
  auto msg = member(commit, "message");
  return msg ? first_line(msg->get_string().value_unsafe()) : std::string();
}

}  // namespace

intake_decision intake(const http_request& request, const service_config& service,
                       std::chrono::system_clock::time_point now) {
  if (std::string_view signature = header(request, "webhook-signature"); !signature.empty()) {
    auto sig = verify_signature(service.webhook_secret, header(request, "webhook-id"),
                                header(request, "webhook-timestamp"), request.body(), signature,
                                now);
    if (sig != signature_status::valid) {
      return reject_signature(sig, "webhook-signature");
    }
  } else {
    auto sig = verify_token(service.webhook_secret, header(request, "X-Gitlab-Token"));
    if (sig == signature_status::missing) {
      return reject(401, "X-Gitlab-Token header is missing: set the secret token in the GitLab "
                         "webhook's settings");
    }
    if (sig != signature_status::valid) {
      return reject_signature(sig, "X-Gitlab-Token");
    }
  }
  std::string_view event = header(request, "X-Gitlab-Event");
  if (event.empty()) {
    return reject(400, "X-Gitlab-Event header is missing: is this a GitLab webhook?");
  }
  if (event != "Push Hook" && event != "Tag Push Hook") {
    return ignore("GitLab event \"" + std::string(event) +
                  "\" is not handled; enable only Push events and Tag push events");
  }
  auto parsed = parse_push(request.body());
  if (auto* message = std::get_if<std::string>(&parsed)) {
    return reject(400, *message);
  }
  std::string delivery(header(request, "Idempotency-Key"));
  if (delivery.empty()) {
    delivery = std::string(header(request, "X-Gitlab-Event-UUID"));
  }
  return decide_push(service, std::get<push_event>(parsed), request.body(), std::move(delivery),
                     now);
}

signature_status verify_token(std::string_view secret, std::string_view header) {
  if (header.empty()) {
    return signature_status::missing;
  }
  if (secret.empty()) {
    return signature_status::mismatch;
  }
  // Compare digests so that the secret's length does not leak either.
  return constant_time_equal(sha256(secret), sha256(header)) ? signature_status::valid
                                                             : signature_status::mismatch;
}

signature_status verify_signature(std::string_view secret, std::string_view webhook_id,
                                  std::string_view webhook_timestamp, std::string_view body,
                                  std::string_view signature_header,
                                  std::chrono::system_clock::time_point now,
                                  std::chrono::seconds tolerance) {
  if (signature_header.empty() || webhook_id.empty() || webhook_timestamp.empty()) {
    return signature_status::missing;
  }
  auto timestamp = parse_unix_seconds(webhook_timestamp);
  if (!timestamp) {
    return signature_status::malformed;
  }

  // "v1,<base64>" entries separated by spaces; other versions (e.g. v1a) are ignored.
  constexpr std::size_t max_candidates = 16;
  std::array<std::string_view, max_candidates> candidates;
  std::size_t count = 0;
  std::string_view rest = signature_header;
  while (!rest.empty()) {
    std::size_t space = rest.find(' ');
    std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (entry.empty()) {
      continue;
    }
    std::size_t comma = entry.find(',');
    if (comma == std::string_view::npos || comma == 0 || comma + 1 == entry.size()) {
      return signature_status::malformed;
    }
    if (entry.substr(0, comma) == "v1" && count < max_candidates) {
      candidates[count++] = entry.substr(comma + 1);
    }
  }
  if (count == 0) {
    return signature_status::malformed;
  }

  std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::int64_t tol = tolerance.count();
  if (*timestamp > now_s + tol || *timestamp < now_s - tol) {
    return signature_status::stale_timestamp;
  }

  auto key = standard_webhooks_key(secret);
  if (secret.empty() || !key) {
    return signature_status::mismatch;
  }
  std::string expected =
      base64_encode(hmac_sha256_parts(*key, {webhook_id, ".", webhook_timestamp, ".", body}));
  bool matched = false;
  for (std::size_t i = 0; i < count; ++i) {
    matched = constant_time_equal(expected, candidates[i]) || matched;
  }
  return matched ? signature_status::valid : signature_status::mismatch;
}

push_parse_result parse_push(std::string_view body) {
  std::string error;
  auto doc = parse_object(body, error);
  if (!doc) {
    return error;
  }
  std::string kind;
  if (auto e = read_string(*doc, "object_kind", "object_kind", kind)) {
    return *e;
  }
  if (!kind.empty() && kind != "push" && kind != "tag_push") {
    return "\"object_kind\" is " + quote_excerpt(kind) + ", not \"push\" or \"tag_push\"";
  }

  push_event ev;
  ev.provider = git_provider::gitlab;
  std::optional<array> commits;
  if (auto e = read_push_fields(*doc, ev, commits)) {
    return *e;
  }

  // GitLab lists at most 20 commits; total_commits_count is the real number. Any non-negative
  // integer (get_uint64 also takes a non-negative int64, refuses doubles and negatives).
  if (auto total = member(*doc, "total_commits_count")) {
    std::uint64_t count = 0;
    if (total->get_uint64().get(count) != simdjson::SUCCESS) {
      return not_a("total_commits_count", "a non-negative integer");
    }
    ev.commit_count = count;
  }

  // The head commit is the one whose id is "after", else the last one listed.
  if (commits) {
    std::optional<object> head;
    for (element c : *commits) {
      object commit = c.get_object().value_unsafe();  // checked by read_push_fields
      head = commit;
      auto id = member(commit, "id");
      if (id && id->get_string().value_unsafe() == ev.after) {
        break;
      }
    }
    if (head) {
      ev.head_message = message_of(*head);
    }
  }

  if (auto e = read_string(*doc, "user_username", "user_username", ev.pusher)) {
    return *e;
  }
  if (auto e = require_nested_string(*doc, "project", "path_with_namespace",
                                     "project.path_with_namespace", ev.repository)) {
    return *e;
  }
  return ev;
}

}  // namespace kiwi::webhook::gitlab
