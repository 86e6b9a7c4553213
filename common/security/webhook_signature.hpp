#pragma once
// Webhook authentication: GitHub's X-Hub-Signature-256, GitLab's X-Gitlab-Token and GitLab's
// signed webhooks (Standard Webhooks: webhook-id / webhook-timestamp / webhook-signature).
// Every comparison of secret material is constant-time.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace kiwi {

// Raw 32-byte HMAC-SHA256 of data under key.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);
// Raw 32-byte SHA-256 of data.
std::string sha256(std::string_view data);
// Bytes of an even-length hex string (either case); nullopt if it is not one.
std::optional<std::string> hex_decode(std::string_view hex);
std::string base64_encode(std::string_view bytes);

// Constant-time equality (length may leak; content does not).
bool constant_time_equal(std::string_view a, std::string_view b);

enum class signature_status {
  valid,
  missing,         // header absent
  malformed,       // header present but not in the documented form
  mismatch,        // well-formed but wrong
  stale_timestamp  // GitLab signed webhook older/newer than the 5 minute window
};

// header: the value of X-Hub-Signature-256, "sha256=<64 hex>".
signature_status verify_github_signature(std::string_view secret, std::string_view body,
                                         std::string_view header);

// header: the value of X-Gitlab-Token.
signature_status verify_gitlab_token(std::string_view secret, std::string_view header);

// GitLab signed webhooks: signature header "v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>",
// possibly several space-separated signatures; any valid one is enough.
signature_status verify_gitlab_signature(std::string_view secret, std::string_view webhook_id,
                                         std::string_view webhook_timestamp,
                                         std::string_view body, std::string_view signature_header,
                                         std::chrono::system_clock::time_point now,
                                         std::chrono::seconds tolerance = std::chrono::minutes(5));

std::string_view to_string(signature_status s);

}  // namespace kiwi
