#pragma once
// GitHub webhooks, top to bottom: verify X-Hub-Signature-256, parse the push payload, decide
// (intake_decision.hpp). Pure: request in, decision out.

#include <chrono>
#include <string_view>

#include "common/config/config.hpp"
#include "daemon/http_types.hpp"
#include "daemon/webhook/intake_decision.hpp"
#include "daemon/webhook/push_event.hpp"

namespace kiwi::webhook::github {

// One delivery to /hooks/github/<service>: 401 unless signed with the service's
// webhook_secret; "ping" answers pong; "push" is parsed and decided; other events are ignored.
intake_decision intake(const http_request& request, const service_config& service,
                       std::chrono::system_clock::time_point now);

// header: the value of X-Hub-Signature-256, "sha256=<64 hex>" (HMAC-SHA256 of the raw body).
signature_status verify_signature(std::string_view secret, std::string_view body,
                                  std::string_view header);

// A push event's payload (X-GitHub-Event: push).
push_parse_result parse_push(std::string_view body);

}  // namespace kiwi::webhook::github
