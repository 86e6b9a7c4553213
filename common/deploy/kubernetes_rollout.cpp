#include "common/deploy/kubernetes_rollout.hpp"

#include "common/deploy/kubernetes_manifests.hpp"  // kube_annotation_deployment

namespace kiwi {

namespace {

using nlohmann::json;

// What the API says, read leniently: a missing or mistyped field is its zero value.
const json& at(const json& j, const char* pointer) {
  static const json none;
  const json::json_pointer p(pointer);
  return j.is_object() && j.contains(p) ? j.at(p) : none;
}
std::string text(const json& j, const char* pointer) {
  const json& v = at(j, pointer);
  return v.is_string() ? v.get<std::string>() : std::string();
}
long long number(const json& j, const char* pointer, long long fallback = 0) {
  const json& v = at(j, pointer);
  return v.is_number_integer() ? v.get<long long>() : fallback;
}
unsigned count(const json& j, const char* pointer, long long fallback = 0) {
  return static_cast<unsigned>(std::max(0LL, number(j, pointer, fallback)));
}

const json* condition(const json& object, std::string_view type) {
  const json& list = at(object, "/status/conditions");
  if (list.is_array()) {
    for (const json& c : list) {
      if (c.is_object() && c.value("type", "") == type) return &c;
    }
  }
  return nullptr;
}

const json& items(const json& list) { return at(list, "/items"); }

// The newest Warning event's message about `pod` with one of `reasons` (any when empty).
std::string event_message(const json& events, const std::string& pod,
                          std::initializer_list<std::string_view> reasons) {
  std::string best, best_time;
  const json& list = items(events);
  if (!list.is_array()) return best;
  for (const json& e : list) {
    if (text(e, "/involvedObject/name") != pod) continue;
    const std::string reason = text(e, "/reason");
    bool wanted = reasons.size() == 0;
    for (std::string_view r : reasons) wanted = wanted || reason == r;
    const std::string when = text(e, "/lastTimestamp");
    const std::string message = text(e, "/message");
    // "Error: ImagePullBackOff" repeats the container's state; the other events say why.
    if (wanted && !message.starts_with("Error: ") && (best.empty() || when > best_time)) {
      best = message;
      best_time = when;
    }
  }
  return best;
}

std::string with_detail(const std::string& message) {
  return message.empty() ? std::string() : " (" + message + ")";
}

std::optional<kube_pod_problem> container_problem(const json& pod, const json& cs,
                                                  const json& events,
                                                  std::string_view env_secret) {
  kube_pod_problem p;
  p.pod = text(pod, "/metadata/name");
  p.container = text(cs, "/name");
  p.restarts = count(cs, "/restartCount");
  const std::string image = text(cs, "/image");
  const std::string reason = text(cs, "/state/waiting/reason");
  const std::string message = text(cs, "/state/waiting/message");
  const json& last = at(cs, "/lastState/terminated");
  if (last.is_object() && last.contains("exitCode") && last["exitCode"].is_number_integer()) {
    p.exit_code = last["exitCode"].get<int>();
  }
  p.reason = reason;
  const std::string head = "pod " + p.pod + ": " + reason + ": ";
  if (reason == "ImagePullBackOff" || reason == "ErrImagePull" || reason == "InvalidImageName") {
    // The kubelet's event says why the pull failed (not found, unauthorized); the waiting
    // message only that it backs off.
    std::string why = event_message(events, p.pod, {"Failed"});
    if (why.empty()) why = message;
    p.diagnostic = head + "the image \"" + image + "\" cannot be pulled" + with_detail(why) +
                   ": check the image path and the registry credentials";
  } else if (reason == "CrashLoopBackOff") {
    p.crash_loop = true;
    const std::string last_reason = text(last, "/reason");
    p.diagnostic = head + "container \"" + p.container + "\" keeps exiting (restarted " +
                   std::to_string(p.restarts) + " times" +
                   (p.exit_code ? ", last exit code " + std::to_string(*p.exit_code) : "") +
                   (last_reason.empty() ? "" : ", " + last_reason) + ")";
    p.diagnostic += last_reason == "OOMKilled"
                        ? ": it ran out of memory: raise the environment's resources.limits.memory"
                        : ": its last log lines say why";
  } else if (reason == "CreateContainerConfigError" || reason == "CreateContainerError") {
    p.diagnostic = head + message + ": create the missing Secret or ConfigMap key" +
                   (env_secret.empty() ? std::string()
                                       : " (secret_env is in Secret \"" + std::string(env_secret) +
                                             "\", written by Kiwi)");
  } else if (!reason.empty() && reason != "ContainerCreating" && reason != "PodInitializing") {
    p.diagnostic = head + (message.empty() ? "container \"" + p.container + "\" is waiting"
                                           : message);
  } else {
    return std::nullopt;
  }
  return p;
}

// A pod the scheduler cannot place: its message, and what to change.
std::optional<kube_pod_problem> scheduling_problem(const json& pod, const json& events) {
  const json* scheduled = condition(pod, "PodScheduled");
  if (!scheduled || scheduled->value("status", "") != "False") return std::nullopt;
  kube_pod_problem p;
  p.pod = text(pod, "/metadata/name");
  p.reason = scheduled->value("reason", "Unschedulable");
  std::string message = scheduled->value("message", "");
  if (message.empty()) message = event_message(events, p.pod, {"FailedScheduling"});
  std::string fix = "add nodes to the cluster or free capacity";
  if (message.find("Insufficient") != std::string::npos) {
    fix = "lower the environment's resources.requests or add capacity to the cluster";
  } else if (message.find("node selector") != std::string::npos ||
             message.find("affinity") != std::string::npos) {
    fix = "check the node selectors and affinity: no node has the labels asked for";
  } else if (message.find("taint") != std::string::npos) {
    fix = "the nodes have taints the pod does not tolerate";
  }
  p.diagnostic = "pod " + p.pod + ": Pending: " + p.reason + with_detail(message) + ": " + fix;
  return p;
}

bool of_revision(const json& pod, std::string_view deployment_id) {
  const std::string id = pod_deployment_id(pod);
  return deployment_id.empty() || id.empty() || id == deployment_id;
}

}  // namespace

kube_rollout read_rollout(const json& d) {
  kube_rollout r;
  const std::string name = text(d, "/metadata/name");
  r.desired = count(d, "/spec/replicas", 1);
  r.updated = count(d, "/status/updatedReplicas");
  r.available = count(d, "/status/availableReplicas");
  const unsigned replicas = count(d, "/status/replicas");
  const std::string waiting = "Waiting for deployment \"" + name + "\" rollout to finish: ";
  if (number(d, "/metadata/generation") > number(d, "/status/observedGeneration")) {
    r.message = "Waiting for deployment spec update to be observed...";
    return r;
  }
  if (const json* c = condition(d, "Progressing");
      c && c->value("reason", "") == "ProgressDeadlineExceeded") {
    r.what = kube_rollout::phase::failed;
    r.message = "deployment \"" + name + "\" exceeded its progress deadline";
    return r;
  }
  if (r.updated < r.desired) {
    r.message = waiting + std::to_string(r.updated) + " out of " + std::to_string(r.desired) +
                " new replicas have been updated...";
  } else if (replicas > r.updated) {
    r.message = waiting + std::to_string(replicas - r.updated) +
                " old replicas are pending termination...";
  } else if (r.available < r.updated) {
    r.message = waiting + std::to_string(r.available) + " of " + std::to_string(r.updated) +
                " updated replicas are available...";
  } else {
    r.what = kube_rollout::phase::done;
    r.message = "deployment \"" + name + "\" successfully rolled out";
  }
  return r;
}

std::string pod_deployment_id(const json& pod) {
  const json& a = at(pod, "/metadata/annotations");
  if (!a.is_object()) return {};
  const auto it = a.find(std::string(kube_annotation_deployment));
  return it != a.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<kube_pod_problem> diagnose_pods(const json& pods, const json& events,
                                            std::string_view deployment_id,
                                            std::string_view env_secret) {
  std::vector<kube_pod_problem> out;
  const json& list = items(pods);
  if (!list.is_array()) return out;
  for (const json& pod : list) {
    if (!of_revision(pod, deployment_id) || !at(pod, "/metadata/deletionTimestamp").is_null()) {
      continue;
    }
    if (auto p = scheduling_problem(pod, events)) {
      out.push_back(std::move(*p));
      continue;
    }
    for (const char* which : {"/status/initContainerStatuses", "/status/containerStatuses"}) {
      const json& statuses = at(pod, which);
      if (!statuses.is_array()) continue;
      for (const json& cs : statuses) {
        if (auto p = container_problem(pod, cs, events, env_secret)) out.push_back(std::move(*p));
      }
    }
  }
  return out;
}

std::vector<std::string> pod_lines(const json& pods) {
  std::vector<std::string> out;
  const json& list = items(pods);
  if (!list.is_array()) return out;
  for (const json& pod : list) {
    std::string state = text(pod, "/status/phase");
    for (char& c : state) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (state.empty()) state = "pending";
    std::string detail;
    if (const json* ready = condition(pod, "Ready"); ready && ready->value("status", "") == "True") {
      detail = "ready";
    } else if (const json* s = condition(pod, "PodScheduled");
               s && s->value("status", "") == "False") {
      detail = s->value("reason", "Unschedulable");
    } else if (const json& cs = at(pod, "/status/containerStatuses"); cs.is_array()) {
      for (const json& c : cs) {
        if (const std::string r = text(c, "/state/waiting/reason"); !r.empty()) detail = r;
      }
    }
    out.push_back(text(pod, "/metadata/name") + ": " + state +
                  (detail.empty() ? "" : " (" + detail + ")"));
  }
  return out;
}

}  // namespace kiwi
