#pragma once
// GitLab webhooks, top to bottom: verify the secret token (X-Gitlab-Token) or GitLab's signed
// webhooks (Standard Webhooks: webhook-id / webhook-timestamp / webhook-signature), parse the
// Push Hook or Tag Push Hook payload, decide (intake_decision.hpp). Pure: request in, decision
// out.

#include <chrono>
#include <string_view>

#include "common/config/config.hpp"
#include "daemon/http_types.hpp"
#include "daemon/webhook/intake_decision.hpp"
#include "daemon/webhook/push_event.hpp"

namespace kiwi::webhook::gitlab {

// One delivery to /hooks/gitlab/<service>: 401 unless it carries a valid signature (when
// webhook-signature is present) or the service's webhook_secret as its token; Push Hook and
// Tag Push Hook are parsed and decided; other events are ignored.
intake_decision intake(const http_request& request, const service_config& service,
                       std::chrono::system_clock::time_point now);

// header: the value of X-Gitlab-Token.
signature_status verify_token(std::string_view secret, std::string_view header);

// Signature header "v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>", possibly several
// space-separated signatures; any valid one is enough. A "whsec_" secret is base64-decoded.
signature_status verify_signature(std::string_view secret, std::string_view webhook_id,
                                  std::string_view webhook_timestamp, std::string_view body,
                                  std::string_view signature_header,
                                  std::chrono::system_clock::time_point now,
                                  std::chrono::seconds tolerance = std::chrono::minutes(5));

// A Push Hook or Tag Push Hook payload.
push_parse_result parse_push(std::string_view body);

}  // namespace kiwi::webhook::gitlab
