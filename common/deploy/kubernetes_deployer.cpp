// The Kubernetes deployer (docs/deploy.md, "Kubernetes runtime"): server-side apply of the
// manifests of kubernetes_manifests.hpp, then polling the Deployment's rollout status and its
// pods (kubernetes_rollout.hpp) until it is rolled out, fails, or the environment's deadline
// passes. The I/O half: everything it decides is in those pure files.

#include <optional>
#include <thread>

#include "common/deploy/deployer.hpp"
#include "common/deploy/kubernetes_manifests.hpp"
#include "common/deploy/kubernetes_rollout.hpp"
#include "common/kubernetes/kaniko_pod.hpp"  // kube_status_message
#include "common/kubernetes/kube_api.hpp"

namespace kiwi {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr auto poll_interval = std::chrono::seconds(1);

// A call the API server refused: the message names what to fix, never the token.
struct kube_refusal : std::runtime_error {
  kube_refusal(const std::string& message, failure_kind k)
      : std::runtime_error(message), kind(k) {}
  failure_kind kind;
};

bool ok(const http_reply& r) { return r.status >= 200 && r.status < 300; }

json parse(const http_reply& r) {
  json j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

class kubernetes_deployer final : public deployer {
 public:
  kubernetes_deployer(runtime_config runtime, std::chrono::milliseconds timeout)
      : runtime_(std::move(runtime)), timeout_(timeout) {}

  deploy_result deploy(const deploy_request& request,
                       const std::function<void(const deploy_progress&)>& progress) override {
    const kube_deploy_names names =
        kube_names(request.service, request.environment,
                   request.env.namespace_.empty() ? runtime_.namespace_ : request.env.namespace_);
    deploy_result result;
    std::optional<kube_api> api;
    bool existed = true;
    try {
      api.emplace(runtime_, timeout_);
      const std::string deployment_path = "/apis/apps/v1/namespaces/" + names.namespace_ +
                                          "/deployments/" + names.name;
      existed = api->call("GET", deployment_path).status == 200;
      for (const json& manifest : kube_deploy_manifests(request, names)) {
        const http_reply reply =
            api->call("PATCH", kube_apply_path(manifest, runtime_.deploy_force_conflicts),
                      &manifest, kube_apply_content_type);
        if (!ok(reply)) {
          throw refusal("apply " + manifest.value("kind", "") + " \"" +
                            manifest["metadata"].value("name", "") + "\"",
                        names.namespace_, reply, true);
        }
      }
      result = wait(*api, request, names, deployment_path, progress);
    } catch (const kube_refusal& e) {
      result.message = e.what();
      result.kind = e.kind;
    } catch (const http_unreachable& e) {
      result.message = e.what();
      result.kind = failure_kind::transient;
    }
    if (api && !result.succeeded && !existed && result.kind == failure_kind::permanent) {
      // A first deploy that failed leaves nothing behind; a later one leaves the Deployment as
      // the cluster keeps it: the previous ReplicaSet's pods still serve (rolling update).
      try {
        remove_in(*api, names);
      } catch (const std::exception&) {
        // What could not be removed is replaced by the next deploy's apply.
      }
    }
    return result;
  }

  deployment_state inspect(const std::string& service, const std::string& environment) override {
    deployment_state state;
    kube_api api(runtime_, timeout_);
    for (const json& d : locate(api, service, environment)) {
      const std::string ns = d.value("/metadata/namespace"_json_pointer, "");
      const kube_rollout r = read_rollout(d);
      state.deployment_id =
          d.value(json::json_pointer("/metadata/annotations/kiwi.dev~1deployment"), "");
      state.image = d.value("/spec/template/spec/containers/0/image"_json_pointer, "");
      state.ready = r.available;
      state.desired = r.desired;
      const http_reply pods = api.call("GET", "/api/v1/namespaces/" + ns + "/pods?labelSelector=" +
                                                  kube_selector(service, environment));
      if (ok(pods)) state.instances = pod_lines(parse(pods));
      const kube_deploy_names names = kube_names(service, environment, ns);
      state.url = service_url(api, names);
      break;  // one Deployment per (service, environment)
    }
    return state;
  }

  void remove(const std::string& service, const std::string& environment) override {
    kube_api api(runtime_, timeout_);
    std::vector<std::string> namespaces = {runtime_.namespace_};
    for (const json& d : locate(api, service, environment)) {
      const std::string ns = d.value("/metadata/namespace"_json_pointer, "");
      if (std::find(namespaces.begin(), namespaces.end(), ns) == namespaces.end()) {
        namespaces.push_back(ns);
      }
    }
    for (const std::string& ns : namespaces) {
      remove_in(api, kube_names(service, environment, ns));
    }
  }

 private:
  deploy_result wait(kube_api& api, const deploy_request& request, const kube_deploy_names& names,
                     const std::string& deployment_path,
                     const std::function<void(const deploy_progress&)>& progress) {
    const std::string ns_path = "/api/v1/namespaces/" + names.namespace_;
    const auto deadline = clock_type::now() + std::chrono::seconds(request.env.deadline_s);
    deploy_result result;
    deploy_progress last;
    bool reported = false;
    for (;;) {
      const http_reply reply = api.call("GET", deployment_path);
      if (!ok(reply)) throw refusal("read Deployment \"" + names.name + "\"", names.namespace_, reply);
      const kube_rollout rollout = read_rollout(parse(reply));
      std::vector<kube_pod_problem> problems;
      if (rollout.what != kube_rollout::phase::done) {
        problems = pod_problems(api, request, names, ns_path);
      }
      deploy_progress now{rollout.available, rollout.desired,
                          std::to_string(rollout.available) + "/" +
                              std::to_string(rollout.desired) + " replicas ready",
                          problems.empty() ? std::string() : problems.front().diagnostic};
      if (progress && (!reported || now.ready != last.ready || now.desired != last.desired ||
                       now.diagnostic != last.diagnostic)) {
        progress(now);
        reported = true;
        last = now;
      }
      const bool timed_out = clock_type::now() >= deadline;
      if (rollout.what == kube_rollout::phase::done) {
        result.succeeded = true;
        result.url = service_url(api, names);
        result.message = std::to_string(rollout.available) + "/" +
                         std::to_string(rollout.desired) + " replicas running" +
                         (result.url.empty() ? "" : " (" + result.url + ")");
        return result;
      }
      if (rollout.what == kube_rollout::phase::failed || timed_out) {
        result.message = rollout.what == kube_rollout::phase::failed
                             ? rollout.message
                             : "deployment \"" + names.name + "\" did not roll out within " +
                                   std::to_string(request.env.deadline_s) +
                                   " s (deadline_s): " + rollout.message;
        for (const kube_pod_problem& p : problems) {
          result.diagnostics.push_back(p.diagnostic);
          if (p.crash_loop && result.log_tail.empty()) {
            result.exit_code = p.exit_code;
            result.log_tail = previous_log(api, ns_path, p);
          }
        }
        if (!problems.empty()) result.message += ": " + problems.front().diagnostic;
        return result;
      }
      std::this_thread::sleep_for(std::min<clock_type::duration>(
          poll_interval, std::max<clock_type::duration>(deadline - clock_type::now(),
                                                        clock_type::duration::zero())));
    }
  }

  std::vector<kube_pod_problem> pod_problems(kube_api& api, const deploy_request& request,
                                             const kube_deploy_names& names,
                                             const std::string& ns_path) {
    const http_reply pods = api.call(
        "GET", ns_path + "/pods?labelSelector=" + kube_selector(request.service, request.environment));
    if (!ok(pods)) throw refusal("list pods", names.namespace_, pods);
    const json pod_list = parse(pods);
    json events = json::object();
    if (!diagnose_pods(pod_list, events, request.deployment_id, names.env_secret).empty()) {
      const http_reply e =
          api.call("GET", ns_path + "/events?fieldSelector=involvedObject.kind%3DPod&limit=500");
      if (ok(e)) events = parse(e);
    }
    const std::string env_secret = request.env.secret_env.empty() ? "" : names.env_secret;
    return diagnose_pods(pod_list, events, request.deployment_id, env_secret);
  }

  // The last 20 lines of the crashed container's previous run.
  std::vector<std::string> previous_log(kube_api& api, const std::string& ns_path,
                                        const kube_pod_problem& p) {
    std::vector<std::string> lines;
    const http_reply log = api.call("GET", ns_path + "/pods/" + p.pod + "/log?container=" +
                                               p.container + "&previous=true&tailLines=20");
    if (!ok(log)) return lines;
    std::size_t start = 0;
    while (start < log.body.size()) {
      std::size_t end = log.body.find('\n', start);
      if (end == std::string::npos) end = log.body.size();
      lines.push_back(log.body.substr(start, end - start));
      start = end + 1;
    }
    if (lines.size() > 20) lines.erase(lines.begin(), lines.end() - 20);
    return lines;
  }

  // In-cluster URL of the Service, when there is one.
  std::string service_url(kube_api& api, const kube_deploy_names& names) {
    const http_reply s =
        api.call("GET", "/api/v1/namespaces/" + names.namespace_ + "/services/" + names.name);
    if (!ok(s)) return {};
    const json port = parse(s).value("/spec/ports/0/port"_json_pointer, json());
    if (!port.is_number_integer()) return {};
    return "http://" + names.name + "." + names.namespace_ + ".svc:" +
           std::to_string(port.get<int>()) + "/";
  }

  // The Deployments of (service, environment): across namespaces when the token may list them
  // there, else in the runtime's namespace.
  std::vector<json> locate(kube_api& api, const std::string& service,
                           const std::string& environment) {
    const std::string query = "/deployments?labelSelector=" + kube_selector(service, environment);
    http_reply reply = api.call("GET", "/apis/apps/v1" + query);
    if (reply.status == 403) {
      reply = api.call("GET", "/apis/apps/v1/namespaces/" + runtime_.namespace_ + query);
    }
    if (!ok(reply)) throw refusal("list Deployments", runtime_.namespace_, reply);
    std::vector<json> out;
    if (const json list = parse(reply); list.contains("items") && list["items"].is_array()) {
      for (const json& d : list["items"]) out.push_back(d);
    }
    return out;
  }

  void remove_in(kube_api& api, const kube_deploy_names& names) {
    const std::string ns = names.namespace_;
    for (const std::string& path :
         {"/apis/apps/v1/namespaces/" + ns + "/deployments/" + names.name,
          "/api/v1/namespaces/" + ns + "/services/" + names.name,
          "/api/v1/namespaces/" + ns + "/secrets/" + names.env_secret,
          "/api/v1/namespaces/" + ns + "/secrets/" + names.pull_secret}) {
      const http_reply reply = api.call("DELETE", path + "?propagationPolicy=Foreground");
      if (!ok(reply) && reply.status != 404) {
        throw refusal("delete " + path, ns, reply);
      }
    }
  }

  kube_refusal refusal(const std::string& what, const std::string& ns, const http_reply& reply,
                       bool applying = false) const {
    std::string detail = kube_status_message(reply.body);
    if (detail.empty()) detail = "HTTP " + std::to_string(reply.status);
    const std::string rt = "runtime \"" + runtime_.name + "\"";
    const auto permanent = failure_kind::permanent;
    switch (reply.status) {
      case 401:
        return {"the Kubernetes API rejected " + rt +
                    "'s token (401 Unauthorized): renew the runtime's service account token",
                permanent};
      case 403:
        return {rt + " may not " + what + " in namespace \"" + ns + "\" (" + detail +
                    "): grant its service account get/list on deployments, pods, pods/log and "
                    "events, and get/patch/delete on deployments, services and secrets",
                permanent};
      case 404:
        if (applying) {
          return {"cannot " + what + ": namespace \"" + ns + "\" does not exist on " + rt + " (" +
                      detail + "): create it (kubectl create namespace " + ns +
                      ") or set the environment's namespace",
                  permanent};
        }
        break;
      case 409:
        return {"cannot " + what + " in namespace \"" + ns + "\": another field manager owns "
                    "fields Kiwi sets (409 Conflict: " + detail + "): stop managing them with "
                    "the other tool (kubectl, Helm, Argo CD), or set " + rt +
                    "'s deploy_force_conflicts to true to take them over",
                permanent};
      case 422:
        return {"the cluster refused to " + what + " as invalid (422: " + detail +
                    "): fix the environment's settings named there (resources, port, env names)",
                permanent};
      default:
        break;
    }
    const bool transient = reply.status == 429 || reply.status >= 500;
    return {"the Kubernetes API of " + rt + " could not " + what + " (" + detail + ")",
            transient ? failure_kind::transient : permanent};
  }

  runtime_config runtime_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<deployer> make_kubernetes_deployer(const runtime_config& runtime,
                                                   std::chrono::milliseconds timeout) {
  return std::make_unique<kubernetes_deployer>(runtime, timeout);
}

}  // namespace kiwi
