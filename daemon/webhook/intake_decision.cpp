#include "daemon/webhook/intake_decision.hpp"

#include <nlohmann/json.hpp>

#include "common/queue/build_id.hpp"
#include "common/security/crypto.hpp"

namespace kiwi::webhook {

using json = nlohmann::json;

std::string_view to_string(signature_status s) {
  switch (s) {
    case signature_status::valid:
      return "valid";
    case signature_status::missing:
      return "missing";
    case signature_status::malformed:
      return "malformed";
    case signature_status::mismatch:
      return "mismatch";
    case signature_status::stale_timestamp:
      return "stale_timestamp";
  }
  return "unknown";
}

intake_decision answer(unsigned status, std::string json_body) {
  intake_decision d;
  d.status = status;
  d.body = std::move(json_body);
  return d;
}

intake_decision reject(unsigned status, std::string message) {
  intake_decision d = answer(status, json{{"error", message}}.dump());
  d.error = std::move(message);
  return d;
}

intake_decision ignore(std::string reason) {
  return answer(200, json{{"status", "ignored"}, {"reason", std::move(reason)}}.dump());
}

intake_decision reject_signature(signature_status s, std::string_view header_name) {
  const std::string name(header_name);
  switch (s) {
    case signature_status::missing:
      return reject(401, name + " header is missing: set the webhook secret in the webhook's "
                                "settings");
    case signature_status::malformed:
      return reject(401, name + " header is malformed");
    case signature_status::stale_timestamp:
      return reject(401, "webhook-timestamp is more than 5 minutes away from the server clock: "
                         "check the clocks, or this is a replayed delivery");
    default:
      return reject(401, name + " does not match: the webhook secret configured in the git "
                                "server differs from Kiwi's webhook_secret for this service");
  }
}

intake_decision decide_push(const service_config& service, const push_event& push,
                            std::string_view body, std::string delivery_id,
                            std::chrono::system_clock::time_point now) {
  if (push.deleted) {
    return ignore("ref " + push.ref + " was deleted; nothing to build");
  }
  if (!push.tag.empty()) {
    if (!service.build_tags) {
      return ignore("tag pushes are not built for this service (build_tags is false)");
    }
  } else if (push.branch != service.branch) {
    return ignore("push to branch " + push.branch + "; this service builds " + service.branch);
  }
  if (push.skip_ci) {
    return ignore("every commit in the push asks to skip CI ([skip ci] / [ci skip])");
  }

  enqueue_request job;
  job.build_id = new_build_id();
  job.provider = std::string(provider_name(push.provider));
  job.delivery_id = delivery_id.empty() ? job.build_id : std::move(delivery_id);
  job.service = service.name;
  job.cancel_superseded = service.cancel_superseded;
  job.max_concurrent_builds = service.max_concurrent_builds;
  // A replay of the same signed body is the same push, whatever its delivery id says; the
  // window (replay_window) is the caller's setting.
  job.replay_digest = push.after + ":" + to_hex(sha256(body));
  job.fields = {{"service", service.name},
                {"kind", "push"},
                {"trigger", "webhook"},
                {"provider", job.provider},
                {"delivery", job.delivery_id},
                {"ref", push.ref},
                {"sha", push.after},
                {"before", push.before},
                {"branch", push.branch},
                {"tag", push.tag},
                {"pusher", push.pusher},
                {"commit_message", push.head_message},
                // The claim starts the clone stage (job_queue: one round trip less per job).
                {"first_stage", "clone"},
                {"first_message", "cloning " + push.ref + " at " + push.after.substr(0, 12)}};
  job.queued_event.type = event_type::build_queued;
  job.queued_event.build_id = job.build_id;
  job.queued_event.service = service.name;
  job.queued_event.ref = push.ref;
  job.queued_event.sha = push.after;
  job.queued_event.status = "queued";
  job.queued_event.message = "push to " + (push.tag.empty() ? push.branch : push.tag) + " by " +
                             (push.pusher.empty() ? std::string("unknown") : push.pusher);
  job.queued_event.ts = now;
  intake_decision d;
  d.job = std::move(job);
  return d;
}

std::string_view header(const http_request& request, std::string_view name) {
  auto it = request.find(name);
  if (it == request.end()) {
    return {};
  }
  return {it->value().data(), it->value().size()};
}

}  // namespace kiwi::webhook
