#pragma once
// Every Redis key and channel Kiwi uses, in one place (documented in docs/redis.md).
// Queue keys share the hash tag {q}, so every key a script touches lives in one Redis Cluster
// slot. Pub/sub channels are not keys and carry no tag.

#include <string>
#include <string_view>

namespace kiwi::keys {

inline constexpr std::string_view prefix = "kiwi:{q}:";

// Stream of jobs; consumer group job_group. Entry fields: build, service, ref, sha, ...
inline std::string jobs() { return std::string(prefix) + "jobs"; }
inline constexpr std::string_view job_group = "kiwi-workers";

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

// Builds of one service by queue time (sorted set, score = queued_at ms).
inline std::string service_builds(std::string_view service) {
  return std::string(prefix) + "service:" + std::string(service) + ":builds";
}

// Per-service build counters (hash field = service name) for ${BUILD_NUMBER}.
inline std::string build_numbers() { return std::string(prefix) + "build_numbers"; }

// Jobs by outcome across all workers (hash: succeeded, failed, ...).
inline std::string job_outcomes() { return std::string(prefix) + "stats:outcomes"; }

// Pub/sub channels for subscribers.
inline constexpr std::string_view events_channel = "kiwi:events";
inline std::string service_events_channel(std::string_view service) {
  return std::string(events_channel) + ":" + std::string(service);
}

}  // namespace kiwi::keys
