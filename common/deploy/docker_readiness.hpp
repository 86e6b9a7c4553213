#pragma once
// Whether a deploy's new containers are running and healthy: judge_replica decides for one
// container from what the engine says (pure, unit tested); wait_until_ready polls the engine
// until every replica is ready, one fails, or the deadline passes, reporting progress.
//
// Health, in order: the image's HEALTHCHECK (State.Health; podman without systemd never runs
// it by itself, so Kiwi asks podman to run it every health.interval_s), else env.health.path as
// an HTTP GET to the published port on 127.0.0.1, else running for health.startup_s without a
// restart. A container that exits, or that its restart policy restarted, has failed.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/deploy/deployer.hpp"
#include "common/deploy/docker_engine.hpp"

namespace kiwi {

enum class replica_phase { starting, ready, failed };

struct replica_verdict {
  replica_phase phase = replica_phase::starting;
  std::string detail;  // "exited with code 1", "health check: unhealthy: <output>", ...
};

// What the replica's own check said when the image has no HEALTHCHECK: nullopt while it has not
// answered yet (HTTP) or not run long enough (startup_s).
struct replica_check {
  bool http = false;              // env.health.path is the check
  std::optional<bool> passed;     // the HTTP check's last answer, or startup_s elapsed
  std::string detail;             // "HTTP GET /healthz answered 503", "not answering yet"
};

replica_verdict judge_replica(const container_state& state, const replica_check& check);

struct readiness_outcome {
  bool ready = false;
  std::string message;  // failed: what happened to which container
  std::string failed_id;  // the container whose logs tell why (empty: none in particular)
  std::string failed_name;
  std::optional<int> exit_code;
  std::vector<std::string> diagnostics;
  std::string url;  // ready: the first replica's published port on 127.0.0.1
};

struct new_replica {
  std::string id;
  std::string name;
};

readiness_outcome wait_until_ready(docker_engine& engine, const std::vector<new_replica>& replicas,
                                   const environment_config& env,
                                   std::chrono::steady_clock::time_point deadline,
                                   const std::function<void(const deploy_progress&)>& progress);

}  // namespace kiwi
