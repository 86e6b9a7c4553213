#pragma once
// What to do with one webhook delivery, decided without I/O: authenticate it, parse the push,
// apply the service's filters, and either answer at once or describe the job to enqueue.

#include <chrono>
#include <optional>
#include <string>

#include "common/config/config.hpp"
#include "common/queue/job_queue.hpp"
#include "daemon/push_event.hpp"
#include "daemon/http_types.hpp"

namespace kiwi {

struct webhook_decision {
  // Set when a job is to be enqueued; the caller answers 202/200/503 after Redis replies.
  std::optional<enqueue_request> job;
  // Otherwise the answer: status and JSON body ({"status":"ignored",...} or {"error":...}).
  unsigned status = 200;
  std::string body;
  std::string error;  // the error message of a 4xx answer (also inside body)
  bool is_error() const { return status >= 400; }
};

webhook_decision inspect_webhook(git_provider provider, const service_config& service,
                                 const http_request& request,
                                 std::chrono::system_clock::time_point now);

std::string_view provider_name(git_provider p);

}  // namespace kiwi
