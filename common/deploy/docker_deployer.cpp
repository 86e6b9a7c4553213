#include "common/deploy/docker_deployer.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "common/deploy/docker_engine.hpp"
#include "common/deploy/docker_readiness.hpp"
#include "common/security/redact.hpp"

namespace kiwi {

namespace {

using clock = std::chrono::steady_clock;

constexpr unsigned stop_grace_s = 10;
constexpr std::size_t log_tail_lines = 20;

std::vector<std::string> environment_filter(const std::string& service, const std::string& env) {
  return {"kiwi.service=" + service, "kiwi.env=" + env};
}

std::string label(const container_summary& c, const std::string& key) {
  const auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string() : it->second;
}

std::chrono::milliseconds remaining(clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return std::max(left, std::chrono::milliseconds(1000));
}

// Every secret a deploy knows, masked in whatever it returns.
redactor secrets_of(const deploy_request& request, const runtime_config& runtime) {
  redactor r;
  for (const auto& [name, value] : request.env.secret_env) {
    r.add(value);
  }
  if (request.registry) {
    r.add(request.registry->password, request.registry->username);
  }
  r.add(runtime.token);
  r.add(runtime.tls_key);
  return r;
}

// One deploy: the engine, the request, and the containers it has made so far.
class docker_rollout {
 public:
  docker_rollout(docker_engine& engine, const deploy_request& request,
                 const std::function<void(const deploy_progress&)>& progress)
      : engine_(engine), request_(request), progress_(progress) {}

  deploy_result run();
  // On an exception: the new containers go, a stopped previous deployment runs again.
  void undo() noexcept;

 private:
  void report(const std::string& message) {
    if (progress_) {
      progress_({0, request_.env.replicas, message, {}});
    }
  }

  docker_engine& engine_;
  const deploy_request& request_;
  const std::function<void(const deploy_progress&)>& progress_;
  std::vector<new_replica> created_;
  std::vector<std::string> stopped_previous_;  // ids of the previous deployment stopped here
};

deploy_result docker_rollout::run() {
  const deploy_request& rq = request_;
  const auto deadline = clock::now() + std::chrono::seconds(rq.env.deadline_s);
  deploy_result result;
  if (!is_digest_reference(rq.image)) {
    result.message = "image \"" + rq.image + "\" is not a reference by digest "
                     "(registry/repository@sha256:...): Kiwi deploys images by digest only";
    return result;
  }
  if (rq.env.replicas == 0) {
    result.message = "the environment has 0 replicas: set replicas to 1 or more";
    return result;
  }
  // 1. What an earlier run of this deployment left (a worker died mid-deploy).
  for (const auto& c : engine_.list({"kiwi.deployment=" + rq.deployment_id,
                                     "kiwi.service=" + rq.service}, true)) {
    engine_.remove(c.id);
  }
  // 2. The image, by digest.
  report("pulling " + rq.image);
  const std::string auth = rq.registry ? registry_auth_header(*rq.registry) : std::string();
  if (auto error = engine_.pull(rq.image, auth, remaining(deadline))) {
    result.message = "cannot pull " + rq.image + ": " + *error +
                     ": check the image path and the registry credentials";
    result.diagnostics.push_back(result.message);
    return result;
  }
  // 3. The replicas.
  std::vector<container_summary> previous;
  for (auto& c : engine_.list(environment_filter(rq.service, rq.environment), true)) {
    if (label(c, "kiwi.deployment") != rq.deployment_id) {
      previous.push_back(std::move(c));
    }
  }
  const bool fixed_port = rq.env.port != 0 && rq.env.host_port != 0;
  for (unsigned i = 1; i <= rq.env.replicas; ++i) {
    container_spec spec{rq.image, deploy_labels(rq, i), &rq.env,
                        fixed_port && i == 1 ? rq.env.host_port : 0};
    const std::string name = container_name(rq.service, rq.environment, rq.revision, i);
    created_.push_back({engine_.create(name, container_create_body(spec)), name});
  }
  if (fixed_port) {
    for (const auto& c : previous) {
      if (c.state == "running") {
        report("stopping " + c.name + " to free 127.0.0.1:" + std::to_string(rq.env.host_port));
        engine_.stop(c.id, stop_grace_s);
        stopped_previous_.push_back(c.id);
      }
    }
  }
  // 4. Running and healthy.
  for (const auto& r : created_) {
    engine_.start(r.id);
  }
  readiness_outcome ready = wait_until_ready(engine_, created_, rq.env, deadline, progress_);
  if (!ready.ready) {
    result.message = ready.message;
    result.exit_code = ready.exit_code;
    result.diagnostics = ready.diagnostics;
    if (!ready.failed_id.empty()) {
      result.log_tail = engine_.log_tail(ready.failed_id, log_tail_lines);
    }
    undo();
    result.message += previous.empty() ? "; nothing was running before"
                                       : "; the previous deployment keeps running";
    return result;
  }
  // 5. The previous deployment retires.
  for (const auto& c : previous) {
    engine_.stop(c.id, stop_grace_s);
    engine_.remove(c.id);
  }
  result.succeeded = true;
  result.url = ready.url;
  result.message = std::to_string(rq.env.replicas) + "/" + std::to_string(rq.env.replicas) +
                   " replicas running" + (ready.url.empty() ? "" : " (" + ready.url + ")");
  return result;
}

void docker_rollout::undo() noexcept {
  // Each container on its own, a few times: a crashing container that its restart policy is
  // restarting can refuse a removal for a moment, and one refusal must not leave the others.
  // What still remains (the engine is gone) is cleaned up by label by the next deploy.
  for (const auto& r : created_) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      try {
        engine_.remove(r.id);
        break;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }
  created_.clear();
  for (const auto& id : stopped_previous_) {
    try {
      engine_.start(id);
    } catch (const std::exception&) {
      // Its restart policy or the next deploy brings it back.
    }
  }
  stopped_previous_.clear();
}

}  // namespace

bool is_digest_reference(std::string_view image) {
  const auto at = image.find("@sha256:");
  if (at == 0 || at == std::string_view::npos) {
    return false;
  }
  const std::string_view hex = image.substr(at + 8);
  return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

deploy_result docker_deployer::deploy(const deploy_request& request,
                                      const std::function<void(const deploy_progress&)>& progress) {
  const redactor secrets = secrets_of(request, runtime_);
  deploy_result result;
  std::optional<docker_engine> engine;
  std::optional<docker_rollout> rollout;  // destroyed before the engine it uses
  try {
    engine.emplace(runtime_, timeout_);
    rollout.emplace(*engine, request, progress);
    result = rollout->run();
  } catch (const http_unreachable& e) {
    if (rollout) {
      rollout->undo();
    }
    result = {};
    result.kind = failure_kind::transient;
    result.message = e.what();
  } catch (const std::exception& e) {  // docker_api_error, a limit that is no quantity
    if (rollout) {
      rollout->undo();
    }
    result = {};
    result.message = e.what();
  }
  secrets.redact_in_place(result.message);
  for (auto& line : result.diagnostics) {
    secrets.redact_in_place(line);
  }
  for (auto& line : result.log_tail) {
    secrets.redact_in_place(line);
  }
  return result;
}

deployment_state docker_deployer::inspect(const std::string& service,
                                          const std::string& environment) {
  docker_engine engine(runtime_, timeout_);
  auto containers = engine.list(environment_filter(service, environment), true);
  // The newest revision with a running container is what runs now.
  const auto revision = [](const container_summary& c) {
    return std::strtoull(label(c, "kiwi.revision").c_str(), nullptr, 10);
  };
  std::string current;
  unsigned long long newest = 0;
  for (const auto& c : containers) {
    if (c.state == "running" && (current.empty() || revision(c) > newest)) {
      newest = revision(c);
      current = label(c, "kiwi.deployment");
    }
  }
  deployment_state state;
  state.deployment_id = current;
  if (current.empty()) {
    return state;
  }
  std::sort(containers.begin(), containers.end(),
            [](const container_summary& a, const container_summary& b) { return a.name < b.name; });
  for (const auto& c : containers) {
    if (label(c, "kiwi.deployment") != current) {
      continue;
    }
    ++state.desired;
    state.ready += c.state == "running" ? 1 : 0;
    state.image = c.image;
    std::string line = c.name + ": " + c.state;
    for (const auto& [port, host_port] : c.host_ports) {
      const std::string url = "http://127.0.0.1:" + std::to_string(host_port) + "/";
      line += " (" + url + ")";
      if (state.url.empty()) {
        state.url = url;
      }
    }
    state.instances.push_back(line);
  }
  return state;
}

void docker_deployer::remove(const std::string& service, const std::string& environment) {
  docker_engine engine(runtime_, timeout_);
  for (const auto& c : engine.list(environment_filter(service, environment), true)) {
    engine.stop(c.id, stop_grace_s);
    engine.remove(c.id);
  }
}

std::unique_ptr<deployer> make_docker_deployer(const runtime_config& runtime,
                                               std::chrono::milliseconds timeout) {
  return std::make_unique<docker_deployer>(runtime, timeout);
}

}  // namespace kiwi
