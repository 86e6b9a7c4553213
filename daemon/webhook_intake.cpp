#include "daemon/webhook_intake.hpp"

#include <nlohmann/json.hpp>

#include "common/queue/build_id.hpp"
#include "common/security/webhook_signature.hpp"

namespace kiwi {
namespace {

using json = nlohmann::json;

webhook_decision answer(unsigned status, const json& body) {
  webhook_decision d;
  d.status = status;
  d.body = body.dump();
  return d;
}

webhook_decision error(unsigned status, std::string message) {
  webhook_decision d = answer(status, json{{"error", message}});
  d.error = std::move(message);
  return d;
}

webhook_decision ignored(std::string reason) {
  return answer(200, json{{"status", "ignored"}, {"reason", std::move(reason)}});
}

std::string_view header(const http_request& req, std::string_view name) {
  auto it = req.find(name);
  if (it == req.end()) {
    return {};
  }
  return {it->value().data(), it->value().size()};
}

std::string auth_failure(signature_status s, std::string_view header_name) {
  switch (s) {
    case signature_status::missing:
      return std::string(header_name) +
             " header is missing: set the webhook secret in the webhook's settings";
    case signature_status::malformed:
      return std::string(header_name) + " header is malformed";
    case signature_status::stale_timestamp:
      return "webhook-timestamp is more than 5 minutes away from the server clock: check the "
             "clocks, or this is a replayed delivery";
    default:
      return std::string(header_name) +
             " does not match: the webhook secret configured in the git server differs from "
             "Kiwi's webhook_secret for this service";
  }
}

// Decides on an authenticated, parsed push.
webhook_decision decide_push(git_provider provider, const service_config& service,
                             const push_event& push, std::string_view body,
                             std::string delivery_id, std::chrono::system_clock::time_point now) {
  if (push.deleted) {
    return ignored("ref " + push.ref + " was deleted; nothing to build");
  }
  if (!push.tag.empty()) {
    if (!service.build_tags) {
      return ignored("tag pushes are not built for this service (build_tags is false)");
    }
  } else if (push.branch != service.branch) {
    return ignored("push to branch " + push.branch + "; this service builds " + service.branch);
  }
  if (push.skip_ci) {
    return ignored("every commit in the push asks to skip CI ([skip ci] / [ci skip])");
  }

  enqueue_request job;
  job.build_id = new_build_id();
  job.provider = std::string(provider_name(provider));
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
  webhook_decision d;
  d.job = std::move(job);
  return d;
}

webhook_decision inspect_github(const service_config& service, const http_request& req,
                                std::chrono::system_clock::time_point now) {
  auto sig = verify_github_signature(service.webhook_secret, req.body(),
                                     header(req, "X-Hub-Signature-256"));
  if (sig != signature_status::valid) {
    return error(401, auth_failure(sig, "X-Hub-Signature-256"));
  }
  std::string_view event = header(req, "X-GitHub-Event");
  if (event.empty()) {
    return error(400, "X-GitHub-Event header is missing: is this a GitHub webhook?");
  }
  if (event == "ping") {
    if (json::parse(req.body(), nullptr, false).is_discarded()) {
      return error(400, "body is not valid JSON");
    }
    return answer(200, json{{"status", "pong"}, {"service", service.name}});
  }
  if (event != "push") {
    return ignored("GitHub event \"" + std::string(event) +
                   "\" is not handled; subscribe the webhook to push events only");
  }
  auto parsed = parse_github_push(req.body());
  if (auto* message = std::get_if<std::string>(&parsed)) {
    return error(400, *message);
  }
  return decide_push(git_provider::github, service, std::get<push_event>(parsed), req.body(),
                     std::string(header(req, "X-GitHub-Delivery")), now);
}

webhook_decision inspect_gitlab(const service_config& service, const http_request& req,
                                std::chrono::system_clock::time_point now) {
  std::string_view signature = header(req, "webhook-signature");
  if (!signature.empty()) {
    auto sig = verify_gitlab_signature(service.webhook_secret, header(req, "webhook-id"),
                                       header(req, "webhook-timestamp"), req.body(), signature,
                                       now);
    if (sig != signature_status::valid) {
      return error(401, auth_failure(sig, "webhook-signature"));
    }
  } else {
    auto sig = verify_gitlab_token(service.webhook_secret, header(req, "X-Gitlab-Token"));
    if (sig != signature_status::valid) {
      return error(401, sig == signature_status::missing
                            ? std::string("X-Gitlab-Token header is missing: set the secret token "
                                          "in the GitLab webhook's settings")
                            : auth_failure(sig, "X-Gitlab-Token"));
    }
  }
  std::string_view event = header(req, "X-Gitlab-Event");
  if (event.empty()) {
    return error(400, "X-Gitlab-Event header is missing: is this a GitLab webhook?");
  }
  if (event != "Push Hook" && event != "Tag Push Hook") {
    return ignored("GitLab event \"" + std::string(event) +
                   "\" is not handled; enable only Push events and Tag push events");
  }
  auto parsed = parse_gitlab_push(req.body());
  if (auto* message = std::get_if<std::string>(&parsed)) {
    return error(400, *message);
  }
  std::string delivery(header(req, "Idempotency-Key"));
  if (delivery.empty()) {
    delivery = std::string(header(req, "X-Gitlab-Event-UUID"));
  }
  return decide_push(git_provider::gitlab, service, std::get<push_event>(parsed), req.body(),
                     std::move(delivery), now);
}

}  // namespace

std::string_view provider_name(git_provider p) {
  return p == git_provider::github ? "github" : "gitlab";
}

webhook_decision inspect_webhook(git_provider provider, const service_config& service,
                                 const http_request& request,
                                 std::chrono::system_clock::time_point now) {
  return provider == git_provider::github ? inspect_github(service, request, now)
                                          : inspect_gitlab(service, request, now);
}

}  // namespace kiwi
