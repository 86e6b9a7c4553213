#pragma once
// What kiwid does with one webhook delivery, the last step of every provider's intake
// (github.hpp, gitlab.hpp: verify, parse, decide): answer at once (a rejection or an ignored
// event) or describe the job to enqueue. No I/O: the router enqueues and answers.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "daemon/http_types.hpp"
#include "daemon/webhook/push_event.hpp"

namespace kiwi::webhook {

struct intake_decision {
  // Set when a job is to be enqueued; the caller answers 202/200/503 after Redis replies.
  std::optional<enqueue_request> job;
  // Otherwise the answer: status and JSON body ({"status":"ignored",...} or {"error":...}).
  unsigned status = 200;
  std::string body;
  std::string error;  // the error message of a 4xx answer (also inside body)
  bool is_error() const { return status >= 400; }
};

// The outcome of checking a delivery's signature or token. Every comparison of secret material
// is constant-time.
enum class signature_status {
  valid,
  missing,         // header absent
  malformed,       // header present but not in the documented form
  mismatch,        // well-formed but wrong
  stale_timestamp  // GitLab signed webhook older/newer than the 5 minute window
};

std::string_view to_string(signature_status s);

// An answer with a JSON body (status 2xx: nothing is queued).
intake_decision answer(unsigned status, std::string json_body);
// {"error": message}.
intake_decision reject(unsigned status, std::string message);
// 200 {"status":"ignored","reason":reason}.
intake_decision ignore(std::string reason);
// 401 for a failed signature or token check: names the header and what to fix, never the
// secret.
intake_decision reject_signature(signature_status s, std::string_view header_name);

// The service's filters on an authenticated, parsed push (deleted ref, branch, build_tags,
// [skip ci]): ignore it, or the job to enqueue. delivery_id: the provider's delivery id, empty
// when it sent none.
intake_decision decide_push(const service_config& service, const push_event& push,
                            std::string_view body, std::string delivery_id,
                            std::chrono::system_clock::time_point now);

// Every provider's entry (github::intake, gitlab::intake): one delivery for one service.
using intake_function = intake_decision (*)(const http_request& request,
                                            const service_config& service,
                                            std::chrono::system_clock::time_point now);

// A request header's value, empty when absent.
std::string_view header(const http_request& request, std::string_view name);

}  // namespace kiwi::webhook
