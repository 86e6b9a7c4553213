#include "common/kubernetes/kaniko_pod.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/base/text.hpp"
#include "common/kubernetes/kaniko_job.hpp"

namespace kiwi {

namespace {

using nlohmann::json;

const json* find(const json& j, std::string_view key) {
  if (!j.is_object()) {
    return nullptr;
  }
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string string_at(const json& j, std::string_view key) {
  const json* v = find(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

bool is_digest(std::string_view d) {
  if (!d.starts_with("sha256:") || d.size() != 7 + 64) {
    return false;
  }
  return std::all_of(d.begin() + 7, d.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

// The executor's container status: the one named "kaniko", else the first.
const json* executor_status(const json& status) {
  const json* list = find(status, "containerStatuses");
  if (!list || !list->is_array() || list->empty()) {
    return nullptr;
  }
  for (const json& cs : *list) {
    if (string_at(cs, "name") == kaniko_container) {
      return &cs;
    }
  }
  return &list->front();
}

// A clone (init) container that failed or whose image cannot be pulled; the executor then never
// starts.
std::optional<std::string> init_failure(const json& status) {
  const json* list = find(status, "initContainerStatuses");
  if (!list || !list->is_array()) {
    return std::nullopt;
  }
  for (const json& cs : *list) {
    const json* state = find(cs, "state");
    const std::string name = string_at(cs, "name");
    if (const json* t = state ? find(*state, "terminated") : nullptr) {
      const json* code = find(*t, "exitCode");
      const int exit_code = code && code->is_number_integer() ? code->get<int>() : -1;
      if (exit_code != 0) {
        const std::string reason = string_at(*t, "reason");
        return "cloning the repository in the build pod failed (init container \"" + name +
               "\" exited with code " + std::to_string(exit_code) +
               (reason.empty() ? "" : ", " + reason) +
               "): check the service's token and that the cluster can reach the git host "
               "(the container's log says more)";
      }
    }
    if (const json* w = state ? find(*state, "waiting") : nullptr) {
      const std::string reason = string_at(*w, "reason");
      if (reason == "ImagePullBackOff" || reason == "ErrImagePull" ||
          reason == "InvalidImageName") {
        return "the clone image \"" + string_at(cs, "image") + "\" cannot be pulled (" + reason +
               "): check the runtime's kaniko.git_image and that the cluster can pull it";
      }
    }
  }
  return std::nullopt;
}

}  // namespace

kaniko_pod_state read_kaniko_pod(const json& pod, std::string_view executor_image) {
  kaniko_pod_state s;
  if (const json* items = find(pod, "items")) {  // a PodList
    if (!items->is_array() || items->empty()) {
      return s;
    }
    return read_kaniko_pod(items->front(), executor_image);
  }
  if (const json* meta = find(pod, "metadata")) {
    s.pod = string_at(*meta, "name");
  }
  const json* status_p = find(pod, "status");
  if (!status_p) {
    return s;
  }
  const json& status = *status_p;
  const std::string phase = string_at(status, "phase");

  if (auto clone_failed = init_failure(status)) {
    s.what = kaniko_pod_state::phase::failed;
    s.message = std::move(*clone_failed);
    return s;
  }
  if (const json* cs = executor_status(status)) {
    const json* state = find(*cs, "state");
    if (const json* t = state ? find(*state, "terminated") : nullptr) {
      const json* code = find(*t, "exitCode");
      s.exit_code = code && code->is_number_integer() ? code->get<int>() : -1;
      const std::string reason = string_at(*t, "reason");
      const std::string raw = string_at(*t, "message");
      std::string message(trim_whitespace(raw));
      if (s.exit_code == 0) {
        if (is_digest(message)) {
          s.what = kaniko_pod_state::phase::succeeded;
          s.digest = message;
        } else {
          s.what = kaniko_pod_state::phase::failed;
          s.message = "Kaniko finished but reported no image digest (termination message \"" +
                      message.substr(0, 80) + "\"): check that the executor image is Kaniko";
        }
        return s;
      }
      s.what = kaniko_pod_state::phase::failed;
      if (reason == "OOMKilled") {
        s.oom_killed = true;
        s.message = "the Kaniko build ran out of memory (OOMKilled): raise the runtime's "
                    "kaniko.memory_limit";
      } else {
        s.message = "Kaniko exited with code " + std::to_string(s.exit_code) +
                    (reason.empty() ? "" : " (" + reason + ")");
      }
      return s;
    }
    if (const json* w = state ? find(*state, "waiting") : nullptr) {
      const std::string reason = string_at(*w, "reason");
      const std::string message = string_at(*w, "message");
      static const std::array<std::string_view, 4> pull = {
          "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"};
      if (std::find(pull.begin(), pull.end(), reason) != pull.end()) {
        std::string image = string_at(*cs, "image");
        if (image.empty()) {
          image = std::string(executor_image);
        }
        s.what = kaniko_pod_state::phase::failed;
        s.message = "the Kaniko executor image \"" + image + "\" cannot be pulled (" + reason +
                    (message.empty() ? "" : ": " + message) +
                    "): check the runtime's kaniko.image and that the cluster can pull it";
        return s;
      }
      if (reason == "CreateContainerConfigError" || reason == "CreateContainerError" ||
          reason == "RunContainerError") {
        s.what = kaniko_pod_state::phase::failed;
        s.message = "the build pod cannot start (" + reason +
                    (message.empty() ? "" : ": " + message) + ")";
        return s;
      }
      s.message = reason;  // ContainerCreating, PodInitializing: keep waiting
      return s;
    }
    if (state && find(*state, "running")) {
      s.what = kaniko_pod_state::phase::running;
      return s;
    }
  }
  if (phase == "Failed") {
    s.what = kaniko_pod_state::phase::failed;
    const std::string reason = string_at(status, "reason");
    const std::string message = string_at(status, "message");
    s.message = "the build pod failed" +
                (reason.empty() && message.empty()
                     ? std::string()
                     : " (" + reason + (message.empty() ? "" : ": " + message) + ")");
    return s;
  }
  if (const json* conditions = find(status, "conditions"); conditions && conditions->is_array()) {
    for (const json& c : *conditions) {
      if (string_at(c, "type") == "PodScheduled" && string_at(c, "status") == "False" &&
          string_at(c, "reason") == "Unschedulable") {
        s.unschedulable = true;
        s.message = "the build pod cannot be scheduled: " + string_at(c, "message") +
                    " Lower the runtime's kaniko.cpu_request/memory_request or add capacity";
      }
    }
  }
  return s;
}

std::optional<std::string> job_failure(const json& job) {
  const json* status = find(job, "status");
  const json* conditions = status ? find(*status, "conditions") : nullptr;
  if (!conditions || !conditions->is_array()) {
    return std::nullopt;
  }
  for (const json& c : *conditions) {
    if (string_at(c, "type") == "Failed" && string_at(c, "status") == "True") {
      const std::string reason = string_at(c, "reason");
      const std::string message = string_at(c, "message");
      if (reason == "DeadlineExceeded") {
        return "the build Job exceeded its deadline (" + message + ")";
      }
      return "the build Job failed (" + reason + (message.empty() ? "" : ": " + message) + ")";
    }
  }
  return std::nullopt;
}

std::string kube_status_message(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || string_at(j, "kind") != "Status") {
    return {};
  }
  return string_at(j, "message");
}

}  // namespace kiwi
