#include "common/kubernetes/kaniko_job.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "common/build/image_reference.hpp"
#include "common/base/text.hpp"
#include "common/security/crypto.hpp"  // base64_encode

namespace kiwi {

namespace {

using nlohmann::json;

constexpr std::string_view secret_key_config = "config.json";
constexpr std::string_view secret_key_git_credentials = "git-credentials";
constexpr std::string_view git_credentials_dir = "/kiwi-git";

// The clone container's script. Its inputs come from the environment (none secret); the token
// is read by git's credential helper from the file mounted into this container alone. The
// checkout keeps no .git, so nothing of the remote reaches the executor.
constexpr std::string_view clone_script = R"(set -eu
cd /workspace
git init -q .
set --
if [ -f /kiwi-git/credentials ]; then
  set -- -c "credential.helper=store --file=/kiwi-git/credentials"
fi
git "$@" -c protocol.version=2 fetch -q --no-tags "$KIWI_GIT_URL" "$KIWI_GIT_REF"
if ! git checkout -q --detach "$KIWI_GIT_SHA"; then
  echo "commit $KIWI_GIT_SHA is not on $KIWI_GIT_REF of $KIWI_GIT_URL" >&2
  exit 1
fi
rm -rf .git
)";

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 0xf];
    }
  }
  return out;
}
constexpr std::string_view secret_key_dockerfile = "Dockerfile";

json labels_of(const kaniko_job_spec& spec) {
  return {{"app.kubernetes.io/managed-by", "kiwi"},
          {"app.kubernetes.io/component", "build"},
          {"kiwi.dev/build-id", spec.build_id},
          {"kiwi.dev/service", spec.service}};
}

bool insecure_registry(const kaniko_job_spec& spec) {
  return spec.registry && (spec.registry->insecure || registry_plain_http(spec.registry->url));
}

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

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + n, out);
  return ec == std::errc() && p == s.data() + pos + n;
}

}  // namespace

std::variant<kaniko_git_context, std::string> make_kaniko_git_context(std::string_view git_url,
                                                                     std::string_view ref,
                                                                     std::string_view sha) {
  kaniko_git_context out;
  std::string_view rest;
  if (git_url.starts_with("https://")) {
    rest = git_url.substr(8);
  } else if (git_url.starts_with("http://")) {
    rest = git_url.substr(7);
    out.plain_http = true;
  } else {
    return std::string(
        "Kaniko builds clone the repository over https with the service's token; this "
        "git_url is not https:// (ssh URLs work only with build_runtime local): use the "
        "repository's https URL");
  }
  // Credentials never go into the URL: they come from the Secret, in the clone container only.
  const auto slash = rest.find('/');
  const auto at = rest.substr(0, slash).rfind('@');
  if (at != std::string_view::npos) {
    rest.remove_prefix(at + 1);
  }
  if (rest.empty() || rest.front() == '/' || rest.find('/') == std::string_view::npos) {
    return std::string("git_url has no repository path: use https://host/group/repo.git");
  }
  if (sha.empty() || ref.empty()) {
    return std::string("a Kaniko build needs the pushed ref and commit");
  }
  out.url = (out.plain_http ? "http://" : "https://") + std::string(rest);
  out.ref = std::string(ref);
  out.sha = std::string(sha);
  return out;
}

std::string git_credentials_line(const kaniko_job_spec& spec) {
  const std::string_view url = spec.git.url;
  const auto scheme_end = url.find("://");
  const std::string_view after = url.substr(scheme_end + 3);
  const std::string_view host = after.substr(0, after.find('/'));
  return std::string(url.substr(0, scheme_end + 3)) + percent_encode(spec.git_username) + ":" +
         percent_encode(spec.git_token) + "@" + std::string(host) + "\n";
}

std::string kaniko_job_name(std::string_view build_id) {
  std::string name = "kiwi-build-";
  for (char l : to_lower_ascii(build_id)) {
    if (std::isalnum(static_cast<unsigned char>(l)) || l == '-') {
      name += l;
    }
  }
  if (name.size() > 63) {
    name.resize(63);
  }
  while (name.back() == '-') {
    name.pop_back();
  }
  return name;
}

std::string docker_config_json(const std::optional<registry_credentials>& registry) {
  json auths = json::object();
  if (registry && !registry->username.empty()) {
    auths[registry_host(registry->url)] = {
        {"auth", base64_encode(registry->username + ":" + registry->password)}};
  }
  return json{{"auths", auths}}.dump();
}

std::vector<std::string> kaniko_args(const kaniko_job_spec& spec) {
  std::vector<std::string> args;
  // The clone container's checkout, the context's sub-directory folded in.
  std::string context = "--context=dir://" + std::string(kaniko_workspace_dir);
  if (!spec.context_sub_path.empty() && spec.context_sub_path != ".") {
    context += "/" + spec.context_sub_path;
  }
  args.push_back(context);
  args.push_back("--dockerfile=" + spec.dockerfile);
  for (const auto& d : spec.destinations) {
    args.push_back("--destination=" + d);
  }
  // The kubelet turns this file into the container's termination message: the digest comes
  // back in the pod's status without reading the log.
  args.emplace_back("--digest-file=/dev/termination-log");
  if (!spec.cache_repo.empty()) {
    args.emplace_back("--cache=true");
    args.push_back("--cache-repo=" + spec.cache_repo);
  }
  for (const auto& [name, value] : spec.build_args) {
    args.push_back("--build-arg=" + name + "=" + value);
  }
  if (insecure_registry(spec)) {
    for (const char* a : {"--insecure", "--skip-tls-verify", "--insecure-pull",
                          "--skip-tls-verify-pull"}) {
      args.emplace_back(a);
    }
  }
  args.emplace_back("--push-retry=2");
  return args;
}

json kaniko_secret_manifest(const kaniko_job_spec& spec) {
  json data = json::object();
  data[secret_key_config] = docker_config_json(spec.registry);
  if (!spec.git_token.empty()) {
    data[secret_key_git_credentials] = git_credentials_line(spec);
  }
  if (spec.generated_dockerfile) {
    data[secret_key_dockerfile] = *spec.generated_dockerfile;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", spec.name}, {"namespace", spec.namespace_}, {"labels", labels_of(spec)}}},
          {"type", "Opaque"},
          {"stringData", data}};
}

json kaniko_job_manifest(const kaniko_job_spec& spec, const kaniko_settings& settings) {
  // The clone container: the only one that sees the git token (a file from the Secret).
  json clone_mounts = json::array({{{"name", "workspace"}, {"mountPath", kaniko_workspace_dir}}});
  json volumes = json::array({{{"name", "workspace"}, {"emptyDir", json::object()}}});
  if (!spec.git_token.empty()) {
    clone_mounts.push_back(
        {{"name", "git-credentials"}, {"mountPath", git_credentials_dir}, {"readOnly", true}});
    volumes.push_back(
        {{"name", "git-credentials"},
         {"secret",
          {{"secretName", spec.name},
           {"defaultMode", 0400},
           {"items", json::array({{{"key", secret_key_git_credentials},
                                   {"path", "credentials"}}})}}}});
  }
  json clone = {
      {"name", kaniko_clone_container},
      {"image", settings.git_image},
      {"command", json::array({"/bin/sh", "-c", clone_script})},
      {"env", json::array({{{"name", "KIWI_GIT_URL"}, {"value", spec.git.url}},
                           {{"name", "KIWI_GIT_REF"}, {"value", spec.git.ref}},
                           {{"name", "KIWI_GIT_SHA"}, {"value", spec.git.sha}},
                           {{"name", "HOME"}, {"value", "/tmp"}}})},
      {"volumeMounts", clone_mounts},
      {"securityContext", {{"allowPrivilegeEscalation", false}}}};
  json requests = {{"cpu", settings.cpu_request}, {"memory", settings.memory_request}};
  json limits = json::object();
  if (!settings.cpu_limit.empty()) {
    limits["cpu"] = settings.cpu_limit;
  }
  if (!settings.memory_limit.empty()) {
    limits["memory"] = settings.memory_limit;
  }
  // The executor: the checkout and the registry's config.json; no git credential in its env,
  // args or mounts (its RUN steps run in this container).
  json mounts = json::array({{{"name", "workspace"}, {"mountPath", kaniko_workspace_dir}},
                             {{"name", "docker-config"},
                              {"mountPath", kaniko_docker_dir},
                              {"readOnly", true}}});
  volumes.push_back(
      {{"name", "docker-config"},
       {"secret",
        {{"secretName", spec.name},
         {"items", json::array({{{"key", secret_key_config}, {"path", "config.json"}}})}}}});
  if (spec.generated_dockerfile) {
    mounts.push_back(
        {{"name", "dockerfile"}, {"mountPath", kaniko_dockerfile_dir}, {"readOnly", true}});
    volumes.push_back(
        {{"name", "dockerfile"},
         {"secret",
          {{"secretName", spec.name},
           {"items", json::array({{{"key", secret_key_dockerfile}, {"path", "Dockerfile"}}})}}}});
  }
  json container = {{"name", kaniko_container},
                    {"image", settings.image},
                    {"args", kaniko_args(spec)},
                    {"resources", {{"requests", requests}, {"limits", limits}}},
                    {"volumeMounts", mounts},
                    {"terminationMessagePath", "/dev/termination-log"},
                    {"terminationMessagePolicy", "File"}};
  json pod_spec = {{"restartPolicy", "Never"},
                   {"automountServiceAccountToken", false},
                   {"initContainers", json::array({clone})},
                   {"containers", json::array({container})},
                   {"volumes", volumes}};
  if (!settings.service_account.empty()) {
    pod_spec["serviceAccountName"] = settings.service_account;
  }
  return {{"apiVersion", "batch/v1"},
          {"kind", "Job"},
          {"metadata",
           {{"name", spec.name}, {"namespace", spec.namespace_}, {"labels", labels_of(spec)}}},
          {"spec",
           {{"backoffLimit", 0},
            {"activeDeadlineSeconds", std::max<std::int64_t>(1, spec.active_deadline_s)},
            // A safety net for a worker that dies mid-build: the cluster removes the finished
            // Job (and its pod) an hour later. Kiwi deletes it itself when the build ends.
            {"ttlSecondsAfterFinished", 3600},
            {"template", {{"metadata", {{"labels", labels_of(spec)}}}, {"spec", pod_spec}}}}}};
}

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

std::optional<timestamped_line> split_log_timestamp(std::string_view line) {
  // 2024-09-12T06:22:28Z or 2024-09-12T06:22:28.123456789Z, then one space.
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (line.size() < 20 || line[4] != '-' || line[7] != '-' || line[10] != 'T' ||
      line[13] != ':' || line[16] != ':' || !digits(line, 0, 4, y) || !digits(line, 5, 2, mo) ||
      !digits(line, 8, 2, d) || !digits(line, 11, 2, h) || !digits(line, 14, 2, mi) ||
      !digits(line, 17, 2, se) || mo < 1 || mo > 12 || d < 1 || d > 31) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int32_t nanos = 0;
  if (line[pos] == '.') {
    ++pos;
    int scale = 9;
    while (pos < line.size() && std::isdigit(static_cast<unsigned char>(line[pos]))) {
      if (scale > 0) {
        nanos = nanos * 10 + (line[pos] - '0');
        --scale;
      }
      ++pos;
    }
    while (scale-- > 0) {
      nanos *= 10;
    }
  }
  if (pos + 1 > line.size() || line[pos] != 'Z') {
    return std::nullopt;
  }
  ++pos;
  if (pos < line.size() && line[pos] != ' ') {
    return std::nullopt;
  }
  timestamped_line out;
  out.at.seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
  out.at.nanos = nanos;
  out.text = pos < line.size() ? line.substr(pos + 1) : std::string_view();
  return out;
}

std::string rfc3339_seconds(std::int64_t seconds) {
  // civil_from_days (Howard Hinnant), the inverse of days_from_civil.
  std::int64_t z = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --z;
  }
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  return buf;
}

}  // namespace kiwi
