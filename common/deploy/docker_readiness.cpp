#include "common/deploy/docker_readiness.hpp"

#include <algorithm>
#include <thread>

namespace kiwi {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds poll_interval{500};

// One new container, as the wait sees it over time.
struct watched {
  new_replica replica;
  std::optional<clock::time_point> running_since;  // first seen running without restarts
  clock::time_point next_check{};                  // the next HTTP check or podman health run
  replica_check check;
  replica_verdict verdict;
};

unsigned checked_port(const environment_config& env) {
  return env.health.port != 0 ? env.health.port : env.port;
}

// GET http://127.0.0.1:<port><path>: 2xx and 3xx pass.
void http_check(watched& w, const container_state& state, const environment_config& env) {
  const auto port = state.host_ports.find(checked_port(env));
  if (port == state.host_ports.end()) {
    w.check.passed = false;
    w.check.detail = "port " + std::to_string(checked_port(env)) +
                     " is not published: set the environment's port to the port the service "
                     "listens on";
    return;
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port->second);
  http_options o;
  o.peer = w.replica.name;
  o.timeout = seconds(std::max(1U, env.health.timeout_s));
  o.connect_timeout = o.timeout;
  const std::string path = env.health.path.starts_with('/') ? env.health.path : "/" + env.health.path;
  try {
    http_client client(*parse_http_endpoint(url), o);
    const http_reply r = client.request("GET", path);
    w.check.passed = r.status >= 200 && r.status < 400;
    w.check.detail = "HTTP GET " + path + " answered " + std::to_string(r.status);
  } catch (const http_unreachable&) {
    w.check.passed = false;
    w.check.detail = "HTTP GET " + path + " on port " + std::to_string(checked_port(env)) +
                     ": not answering yet";
  }
}

}  // namespace

replica_verdict judge_replica(const container_state& state, const replica_check& check) {
  if (state.restart_count > 0 || state.restarting) {
    return {replica_phase::failed,
            "keeps exiting: its restart policy restarted it " +
                std::to_string(state.restart_count) +
                (state.restart_count == 1 ? " time" : " times")};
  }
  if (!state.running) {
    return {replica_phase::failed,
            state.status == "created" ? "did not start"
                                      : "exited with code " + std::to_string(state.exit_code)};
  }
  if (state.has_healthcheck && !check.http) {
    if (state.health == "healthy") {
      return {replica_phase::ready, "healthy"};
    }
    const std::string h = state.health.empty() ? "starting" : state.health;
    return {replica_phase::starting,
            "HEALTHCHECK " + h + (state.health_output.empty() ? "" : ": " + state.health_output)};
  }
  if (check.passed.value_or(false)) {
    return {replica_phase::ready, check.http ? check.detail : "running"};
  }
  return {replica_phase::starting, check.detail.empty() ? "starting" : check.detail};
}

readiness_outcome wait_until_ready(docker_engine& engine, const std::vector<new_replica>& replicas,
                                   const environment_config& env, clock::time_point deadline,
                                   const std::function<void(const deploy_progress&)>& progress) {
  std::vector<watched> all;
  for (const auto& r : replicas) {
    all.push_back({r, std::nullopt, clock::now(), {}, {}});
    all.back().check.http = !env.health.path.empty();
  }
  const bool podman = engine.is_podman();
  const auto interval = seconds(std::max(1U, env.health.interval_s));
  const auto desired = static_cast<unsigned>(all.size());
  std::string last_report;
  readiness_outcome out;
  for (;;) {
    unsigned ready = 0;
    std::string diagnostic;
    for (watched& w : all) {
      auto state = engine.inspect(w.replica.id);
      if (!state) {
        out.message = "container " + w.replica.name + " disappeared while starting";
        out.failed_name = w.replica.name;
        return out;
      }
      const auto now = clock::now();
      if (state->running && !w.running_since) {
        w.running_since = now;
      }
      if (w.check.http && state->running && now >= w.next_check) {
        http_check(w, *state, env);
        w.next_check = now + interval;
      } else if (!w.check.http && !state->has_healthcheck && w.running_since) {
        w.check.passed = now - *w.running_since >= seconds(env.health.startup_s);
        w.check.detail = "running, counted healthy after " +
                         std::to_string(env.health.startup_s) + " s";
      }
      w.verdict = judge_replica(*state, w.check);
      if (w.verdict.phase == replica_phase::failed) {
        out.failed_id = w.replica.id;
        out.failed_name = w.replica.name;
        out.exit_code = state->running || state->restarting
                            ? engine.next_exit(w.replica.id, milliseconds(10000))
                            : std::optional<int>(state->exit_code);
        out.message = "container " + w.replica.name + " " + w.verdict.detail +
                      (out.exit_code && (state->running || state->restarting)
                           ? "; last exit code " + std::to_string(*out.exit_code)
                           : "");
        return out;
      }
      if (w.verdict.phase == replica_phase::ready) {
        ++ready;
      } else {
        if (diagnostic.empty()) {
          diagnostic = w.replica.name + ": " + w.verdict.detail;
        }
        if (podman && state->has_healthcheck && !w.check.http && now >= w.next_check) {
          engine.run_healthcheck(w.replica.id);
          w.next_check = now + interval;
        }
      }
      if (&w == &all.front()) {
        const auto port = state->host_ports.find(env.port);
        out.url = port == state->host_ports.end()
                      ? std::string()
                      : "http://127.0.0.1:" + std::to_string(port->second) + "/";
      }
    }
    deploy_progress p{ready, desired,
                      std::to_string(ready) + "/" + std::to_string(desired) + " replicas ready",
                      ready == desired ? std::string() : diagnostic};
    if (progress && p.message + p.diagnostic != last_report) {
      last_report = p.message + p.diagnostic;
      progress(p);
    }
    if (ready == desired) {
      out.ready = true;
      return out;
    }
    if (clock::now() >= deadline) {
      const auto waiting = std::find_if(all.begin(), all.end(), [](const watched& w) {
        return w.verdict.phase != replica_phase::ready;
      });
      out.failed_id = waiting->replica.id;
      out.failed_name = waiting->replica.name;
      out.message = std::to_string(ready) + "/" + std::to_string(desired) +
                    " replicas healthy within the deadline of " + std::to_string(env.deadline_s) +
                    " s: " + waiting->replica.name + ": " + waiting->verdict.detail;
      for (const watched& w : all) {
        if (w.verdict.phase != replica_phase::ready) {
          out.diagnostics.push_back(w.replica.name + ": " + w.verdict.detail);
        }
      }
      return out;
    }
    std::this_thread::sleep_for(std::min<clock::duration>(poll_interval, deadline - clock::now()));
  }
}

}  // namespace kiwi
