#pragma once
// The pure half of the Kubernetes deployer (kubernetes_deployer.cpp), what Kiwi applies to the
// cluster for one revision of (service, environment): a Deployment and a Service, a Secret for
// secret_env (the Deployment references its keys, never a value) and an imagePullSecret from
// the registry's credentials; and the server-side apply request of each. No I/O: unit tested in
// tests/unit/kubernetes_deploy_test.cpp. How the Kaniko Job is built (common/kubernetes/
// kaniko_job.hpp) is followed, and its docker_config_json is shared.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/deploy/deployer.hpp"

namespace kiwi {

// Labels on every object and pod of a (service, environment).
inline constexpr std::string_view kube_label_name = "app.kubernetes.io/name";
inline constexpr std::string_view kube_label_service = "kiwi.dev/service";
inline constexpr std::string_view kube_label_environment = "kiwi.dev/environment";
// The revision's id, on the Deployment and on its pod template (so a redeploy of the same image,
// a rollback say, still rolls out, and the new pods are told apart from the old ones).
inline constexpr std::string_view kube_annotation_deployment = "kiwi.dev/deployment";
inline constexpr std::string_view kube_field_manager = "kiwi";

// What the objects of a (service, environment) are called, and where they live.
struct kube_deploy_names {
  std::string namespace_;
  std::string name;         // the Deployment, the Service and the container's app: <service>-<env>
  std::string env_secret;   // <name>-env: secret_env
  std::string pull_secret;  // <name>-registry: the registry's credentials
};
// `namespace_`: the environment's, else the runtime's. A name over 63 characters is cut and
// ends with a hash of the whole, so two long names never meet.
kube_deploy_names kube_names(std::string_view service, std::string_view environment,
                             std::string_view namespace_);

// "kiwi.dev/service=<service>,kiwi.dev/environment=<env>", for ?labelSelector=.
std::string kube_selector(std::string_view service, std::string_view environment);

// The objects to apply, in order: the Secrets first (the pods need them), then the Deployment
// and the Service (none when env.port is 0). A Secret is left out when it would be empty.
std::vector<nlohmann::json> kube_deploy_manifests(const deploy_request& request,
                                                  const kube_deploy_names& names);

nlohmann::json kube_deployment_manifest(const deploy_request& request,
                                        const kube_deploy_names& names);
nlohmann::json kube_service_manifest(const deploy_request& request,
                                     const kube_deploy_names& names);
nlohmann::json kube_env_secret_manifest(const deploy_request& request,
                                        const kube_deploy_names& names);
nlohmann::json kube_pull_secret_manifest(const deploy_request& request,
                                         const kube_deploy_names& names);

// The API path of an object (from its apiVersion, kind, namespace and name), e.g.
// /apis/apps/v1/namespaces/prod/deployments/user-api-production.
std::string kube_object_path(const nlohmann::json& manifest);
// Its server-side apply: PATCH <path>?fieldManager=kiwi&force=<force> with this content type.
inline constexpr std::string_view kube_apply_content_type = "application/apply-patch+yaml";
std::string kube_apply_path(const nlohmann::json& manifest, bool force);

}  // namespace kiwi
