#include "common/deploy/kubernetes_manifests.hpp"

#include "common/kubernetes/kaniko_job.hpp"  // docker_config_json
#include "common/security/crypto.hpp"        // sha256, to_hex

namespace kiwi {

namespace {

using nlohmann::json;

json labels_of(const deploy_request& request) {
  return {{kube_label_name, request.service},
          {"app.kubernetes.io/managed-by", "kiwi"},
          {kube_label_service, request.service},
          {kube_label_environment, request.environment}};
}

json selector_of(const deploy_request& request) {
  return {{kube_label_service, request.service}, {kube_label_environment, request.environment}};
}

json annotations_of(const deploy_request& request) {
  return {{kube_annotation_deployment, request.deployment_id},
          {"kiwi.dev/revision", std::to_string(request.revision)}};
}

json metadata_of(const deploy_request& request, const std::string& name,
                 const kube_deploy_names& names) {
  return {{"name", name},
          {"namespace", names.namespace_},
          {"labels", labels_of(request)},
          {"annotations", annotations_of(request)}};
}

bool has_pull_credentials(const deploy_request& request) {
  return request.registry && !request.registry->username.empty();
}

json resources_of(const resource_requirements& r) {
  json out = json::object();
  for (const auto& [key, amounts] : {std::pair{"requests", &r.requests},
                                     std::pair{"limits", &r.limits}}) {
    json q = json::object();
    if (!amounts->cpu.empty()) q["cpu"] = amounts->cpu;
    if (!amounts->memory.empty()) q["memory"] = amounts->memory;
    if (!q.empty()) out[key] = q;
  }
  return out;
}

// A readiness probe from env.health: an HTTP GET when a path is set, else a TCP connect to the
// port when there is one, else none (a running container counts as ready).
json readiness_probe(const environment_config& env) {
  const unsigned port = env.health.port ? env.health.port : env.port;
  json probe = {{"periodSeconds", std::max(1u, env.health.interval_s)},
                {"timeoutSeconds", std::max(1u, env.health.timeout_s)},
                {"failureThreshold", 3}};
  if (!env.health.path.empty() && port != 0) {
    probe["httpGet"] = {{"path", env.health.path}, {"port", port}};
  } else if (port != 0) {
    probe["tcpSocket"] = {{"port", port}};
  } else {
    return nullptr;
  }
  return probe;
}

}  // namespace

kube_deploy_names kube_names(std::string_view service, std::string_view environment,
                             std::string_view namespace_) {
  kube_deploy_names n;
  n.namespace_ = std::string(namespace_);
  std::string name = std::string(service) + "-" + std::string(environment);
  // Room for the longest suffix ("-registry") within 63: a Secret's name is a label too when
  // pods refer to it, and the Service's is a DNS-1035 label.
  constexpr std::size_t max_base = 63 - 9;
  if (name.size() > max_base) {
    const std::string hash = to_hex(sha256(name)).substr(0, 8);
    name.resize(max_base - 9);
    while (!name.empty() && name.back() == '-') name.pop_back();
    name += "-" + hash;
  }
  n.name = name;
  n.env_secret = name + "-env";
  n.pull_secret = name + "-registry";
  return n;
}

std::string kube_selector(std::string_view service, std::string_view environment) {
  return std::string(kube_label_service) + "=" + std::string(service) + "," +
         std::string(kube_label_environment) + "=" + std::string(environment);
}

json kube_env_secret_manifest(const deploy_request& request, const kube_deploy_names& names) {
  json data = json::object();
  for (const auto& [key, value] : request.env.secret_env) {
    data[key] = value;
  }
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", metadata_of(request, names.env_secret, names)},
          {"type", "Opaque"},
          {"stringData", data}};
}

json kube_pull_secret_manifest(const deploy_request& request, const kube_deploy_names& names) {
  std::optional<registry_credentials> creds;
  if (request.registry) {
    creds = registry_credentials{request.registry->url, request.registry->username,
                                 request.registry->password, request.registry->insecure};
  }
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", metadata_of(request, names.pull_secret, names)},
          {"type", "kubernetes.io/dockerconfigjson"},
          {"stringData", {{".dockerconfigjson", docker_config_json(creds)}}}};
}

json kube_deployment_manifest(const deploy_request& request, const kube_deploy_names& names) {
  const environment_config& env = request.env;
  json vars = json::array();
  for (const auto& [key, value] : env.env) {
    vars.push_back({{"name", key}, {"value", value}});
  }
  for (const auto& [key, value] : env.secret_env) {
    (void)value;  // in the Secret only
    vars.push_back({{"name", key},
                    {"valueFrom", {{"secretKeyRef", {{"name", names.env_secret}, {"key", key}}}}}});
  }
  json container = {{"name", request.service},
                    {"image", request.image},
                    {"env", vars},
                    {"resources", resources_of(env.resources)}};
  if (env.port != 0) {
    container["ports"] = json::array({{{"name", "http"}, {"containerPort", env.port}}});
  }
  if (json probe = readiness_probe(env); !probe.is_null()) {
    container["readinessProbe"] = probe;
  }
  json pod_spec = {{"containers", json::array({container})}};
  if (has_pull_credentials(request)) {
    pod_spec["imagePullSecrets"] = json::array({{{"name", names.pull_secret}}});
  }
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", metadata_of(request, names.name, names)},
          {"spec",
           {{"replicas", env.replicas},
            {"selector", {{"matchLabels", selector_of(request)}}},
            // The cluster itself marks the rollout failed (ProgressDeadlineExceeded) at the
            // environment's deadline.
            {"progressDeadlineSeconds", std::max(1u, env.deadline_s)},
            {"template",
             {{"metadata", {{"labels", labels_of(request)}, {"annotations", annotations_of(request)}}},
              {"spec", pod_spec}}}}}};
}

json kube_service_manifest(const deploy_request& request, const kube_deploy_names& names) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata_of(request, names.name, names)},
          {"spec",
           {{"type", "ClusterIP"},
            {"selector", selector_of(request)},
            {"ports", json::array({{{"name", "http"},
                                    {"port", request.env.port},
                                    {"targetPort", request.env.port}}})}}}};
}

std::vector<json> kube_deploy_manifests(const deploy_request& request,
                                        const kube_deploy_names& names) {
  std::vector<json> out;
  if (!request.env.secret_env.empty()) {
    out.push_back(kube_env_secret_manifest(request, names));
  }
  if (has_pull_credentials(request)) {
    out.push_back(kube_pull_secret_manifest(request, names));
  }
  out.push_back(kube_deployment_manifest(request, names));
  if (request.env.port != 0) {
    out.push_back(kube_service_manifest(request, names));
  }
  return out;
}

std::string kube_object_path(const json& manifest) {
  const std::string api_version = manifest.value("apiVersion", "");
  const std::string kind = manifest.value("kind", "");
  const json& meta = manifest.at("metadata");
  std::string plural;
  for (char c : kind) plural += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  plural += "s";
  const std::string group = api_version.find('/') == std::string::npos
                                ? "/api/" + api_version
                                : "/apis/" + api_version;
  return group + "/namespaces/" + meta.value("namespace", "") + "/" + plural + "/" +
         meta.value("name", "");
}

std::string kube_apply_path(const json& manifest, bool force) {
  return kube_object_path(manifest) + "?fieldManager=" + std::string(kube_field_manager) +
         "&force=" + (force ? "true" : "false");
}

}  // namespace kiwi
