#pragma once
// Every Redis key and channel Kiwi uses, in one place (documented in docs/redis.md).
// Queue keys share the hash tag {q}, so every key a script touches lives in one Redis Cluster
// slot. Pub/sub channels are not keys and carry no tag.

#include <string>
#include <string_view>

namespace kiwi::keys {

inline constexpr std::string_view prefix = "kiwi:{q}:";

// The scheduler (docs/queue.md). A build waits in its service's list; services with waiting
// builds form a round-robin ring; a claimed build holds a lease until it ends.
inline std::string service_waiting(std::string_view service) {  // list of build ids, FIFO
  return std::string(prefix) + "svc:" + std::string(service) + ":waiting";
}
inline std::string service_active(std::string_view service) {  // set of running build ids
  return std::string(prefix) + "svc:" + std::string(service) + ":active";
}
// hash: max (concurrent builds), last_success + last_success_at (its build id and queue time,
// which retention keeps)
inline std::string service_settings(std::string_view service) {
  return std::string(prefix) + "svc:" + std::string(service);
}
// Queued or running builds of one (service, ref), for "latest push wins" (set).
inline std::string live_builds(std::string_view service, std::string_view ref) {
  return std::string(prefix) + "live:" + std::string(service) + ":" + std::string(ref);
}
inline std::string ready() { return std::string(prefix) + "ready"; }          // ring (list)
inline std::string ready_set() { return std::string(prefix) + "ready_set"; }  // its members
inline std::string leases() { return std::string(prefix) + "leases"; }  // zset: id -> expiry ms
inline std::string delayed() { return std::string(prefix) + "delayed"; }  // zset: id -> due ms
inline std::string dead_letters() { return std::string(prefix) + "dead"; }  // stream
inline std::string wake() { return std::string(prefix) + "wake"; }  // list idle workers BLPOP

// Replay guard: a push (service, "<after sha>:<SHA-256 of the body>") -> build id, expires
// after webhook_replay_window_s.
inline std::string replay(std::string_view service, std::string_view digest) {
  return std::string(prefix) + "replay:" + std::string(service) + ":" + std::string(digest);
}

// Redelivery guard: delivery id -> build id, expires after 7 days.
inline std::string delivery(std::string_view provider, std::string_view delivery_id) {
  return std::string(prefix) + "delivery:" + std::string(provider) + ":" +
         std::string(delivery_id);
}

// Build record (hash): id, number, service, ref, sha, status, stage, timestamps, seq, error.
inline std::string build(std::string_view build_id) {
  return std::string(prefix) + "build:" + std::string(build_id);
}

// Replayable event log of one build (stream, capped).
inline std::string build_events(std::string_view build_id) {
  return std::string(prefix) + "build:" + std::string(build_id) + ":events";
}

// The full report of a build's image scan (string, at most scan.max_report_bytes; removed with
// the build by retention).
inline std::string build_scan_report(std::string_view build_id) {
  return std::string(prefix) + "build:" + std::string(build_id) + ":scan";
}

// Builds of one service by queue time (sorted set, score = queued_at ms).
inline std::string service_builds(std::string_view service) {
  return std::string(prefix) + "service:" + std::string(service) + ":builds";
}

// Builds of one service that retention never removes, whatever their age (set of build ids):
// the builds deployment revisions reference (docs/redis.md#retention).
inline std::string service_protected_builds(std::string_view service) {
  return std::string(prefix) + "service:" + std::string(service) + ":protected";
}

// Deployment revisions (docs/deploy.md#history): one hash per revision; an environment's
// revisions (zset: id -> revision number); the revision counters (hash field
// "<service>/<environment>"); how many kept revisions reference each build of a service (hash:
// build id -> count, mirrored by service_protected_builds); the deploy lock of an environment
// (string: the deployment id holding it, with a lease).
inline std::string deployment(std::string_view id) {
  return std::string(prefix) + "deployment:" + std::string(id);
}
inline std::string deployments(std::string_view service, std::string_view environment) {
  return std::string(prefix) + "deployments:" + std::string(service) + ":" +
         std::string(environment);
}
inline std::string deployment_numbers() { return std::string(prefix) + "deployment_numbers"; }
inline std::string deployed_builds(std::string_view service) {
  return std::string(prefix) + "service:" + std::string(service) + ":deployed";
}
inline std::string deploy_lock(std::string_view service, std::string_view environment) {
  return std::string(prefix) + "deploy_lock:" + std::string(service) + ":" +
         std::string(environment);
}

// Retention's state (hash): `cursor` of the sweep over the services (HSCAN of build_numbers),
// `pruned` (builds removed so far).
inline std::string retention() { return std::string(prefix) + "retention"; }

// Every event of every build, capped at ~100k (stream, field `event`): replay for the
// all-builds event stream of the API.
inline std::string all_events() { return std::string(prefix) + "events"; }

// Per-service build counters (hash field = service name) for ${BUILD_NUMBER}.
inline std::string build_numbers() { return std::string(prefix) + "build_numbers"; }

// Jobs by outcome across all workers (hash: succeeded, failed, cancelled, superseded, retried,
// reclaimed, handed_back, dead_lettered).
inline std::string job_outcomes() { return std::string(prefix) + "stats:outcomes"; }

// Registered resources (hash: name -> JSON with secrets sealed; docs/api.md). Their own slot
// {r}: no queue script touches them.
inline std::string resources(std::string_view kind_plural) {  // services, registries, runtimes
  return "kiwi:{r}:" + std::string(kind_plural);
}

// Pub/sub channels for subscribers.
inline constexpr std::string_view events_channel = "kiwi:events";
inline std::string service_events_channel(std::string_view service) {
  return std::string(events_channel) + ":" + std::string(service);
}

}  // namespace kiwi::keys
