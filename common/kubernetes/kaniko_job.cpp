#include "common/kubernetes/kaniko_job.hpp"

#include <algorithm>
#include <cctype>

#include "common/base/text.hpp"
#include "common/build/image_reference.hpp"
#include "common/security/crypto.hpp"  // base64_encode
#include "common/security/redact.hpp"  // percent_encode

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

}  // namespace kiwi
