#include "daemon/runtime_probe.hpp"

#include <cctype>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/deploy/docker_engine.hpp"
#include "common/kubernetes/kaniko_job.hpp"

namespace kiwi {

namespace {

using json = nlohmann::json;

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// A Kubernetes Status object's message, or empty.
std::string status_message(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  return j.is_object() ? text(j, "message") : std::string();
}

connection_check unreachable(const http_unreachable& e, const std::string& what,
                             const std::string& tls_prefix) {
  if (e.failed_step == http_unreachable::step::tls) {
    return check_failed("certificate", tls_prefix + e.what());
  }
  return check_failed(e.timed_out ? "timeout" : "unreachable", what + " unreachable: " + e.what());
}

connection_check probe_docker(const runtime_config& rt, const check_deadline& deadline) {
  const std::string url = docker_endpoint_url(rt);
  const auto where = parse_http_endpoint(url);
  if (!where) {
    return check_failed("other", "\"" + (rt.socket.empty() ? rt.url : rt.socket) +
                                     "\" is not a Docker endpoint (a socket path or "
                                     "tcp://host:port)");
  }
  const http_options options = docker_http_options(rt, !where->socket_path.empty());
  try {
    const http_reply ping = bounded_get(*where, "/_ping", {}, options, deadline);
    if (ping.status != 200) {
      return check_failed("other", "the Docker engine at " + url + " answered HTTP " +
                                       std::to_string(ping.status) +
                                       " to GET /_ping: is this a Docker Engine API endpoint?");
    }
    const http_reply version = bounded_get(*where, "/version", {}, options, deadline);
    const std::string summary = docker_version_summary(version.body);
    if (version.status != 200 || summary.empty()) {
      return check_failed("other", "the Docker engine at " + url + " answered HTTP " +
                                       std::to_string(version.status) +
                                       " to GET /version without a version");
    }
    connection_check c;
    c.ok = true;
    c.message = summary;
    const json j = json::parse(version.body, nullptr, false);
    c.details = {{"type", "docker"},
                 {"endpoint", url},
                 {"api_version", text(j, "ApiVersion")},
                 {"version", text(j, "Version")},
                 {"os", text(j, "Os")},
                 {"arch", text(j, "Arch")}};
    return c;
  } catch (const http_unreachable& e) {
    return unreachable(e, "Docker engine", "TLS with the Docker engine failed: ");
  }
}

// Whether a Kaniko build could start in the runtime's namespace: the build's Secret and Job
// created with dryRun=All (authorization, admission and validation run; nothing is stored),
// and its pods listed. "" when all three pass, else what is missing and what to grant.
std::string kaniko_readiness(const runtime_config& rt, const http_endpoint& where,
                             const header_list& headers, const http_options& options,
                             const check_deadline& deadline) {
  kaniko_job_spec spec;
  spec.name = kaniko_job_name("dry-run");
  spec.namespace_ = rt.namespace_;
  spec.build_id = "dry-run";
  spec.service = "dry-run";
  spec.git.url = "https://kiwi.invalid/dry-run.git";
  spec.git.ref = "refs/heads/main";
  spec.git.sha = std::string(40, '0');
  spec.dockerfile = "Dockerfile";
  spec.destinations = {"kiwi.invalid/dry-run:check"};
  const std::string ns = "/namespaces/" + rt.namespace_;
  struct step {
    std::string what;  // "create Secrets"
    std::string method, target, body;
  };
  const std::vector<step> steps = {
      {"create Secrets", "POST", "/api/v1" + ns + "/secrets?dryRun=All",
       kaniko_secret_manifest(spec).dump()},
      {"create Jobs", "POST", "/apis/batch/v1" + ns + "/jobs?dryRun=All",
       kaniko_job_manifest(spec, rt.kaniko).dump()},
      {"list pods", "GET", "/api/v1" + ns + "/pods?limit=1", ""}};
  std::vector<std::string> refused;
  for (const step& st : steps) {
    const http_reply r = bounded_request(st.method, where, st.target,
                                         st.body.empty() ? nullptr : &st.body, headers, options,
                                         deadline);
    if (r.status == 200 || r.status == 201) {
      continue;
    }
    const std::string m = status_message(r.body);
    if (r.status == 404) {
      return "namespace \"" + rt.namespace_ + "\" does not exist (" +
             (m.empty() ? "HTTP 404" : m) + "): create it or set the runtime's namespace";
    }
    refused.push_back(st.what + " (HTTP " + std::to_string(r.status) +
                      (m.empty() ? "" : ": " + m) + ")");
  }
  if (refused.empty()) {
    return {};
  }
  std::string out = "the runtime's service account may not";
  for (std::size_t i = 0; i < refused.size(); ++i) {
    out += (i == 0 ? " " : "; nor ") + refused[i];
  }
  return out + " in namespace \"" + rt.namespace_ +
         "\": grant it create/get/delete on jobs and secrets, patch on secrets, and get/list "
         "on pods and pods/log";
}

connection_check probe_kubernetes(const runtime_config& rt, const check_deadline& deadline) {
  const auto where = parse_http_endpoint(rt.api_url);
  if (!where || !where->socket_path.empty()) {
    return check_failed("other", "\"" + rt.api_url + "\" is not an https:// API server URL");
  }
  http_options options;
  options.peer = "the Kubernetes API";
  options.hint = "check api_url and that the API server is reachable from kiwid";
  options.tls_hint = "check ca_file: it must hold the CA certificate that signed the API "
                     "server's certificate";
  options.tls.ca_pem = rt.ca_cert;
  const header_list headers{{"Authorization", "Bearer " + rt.token}};
  http_reply reply;
  try {
    reply = bounded_get(*where, "/version", headers, options, deadline);
  } catch (const http_unreachable& e) {
    return unreachable(e, "Kubernetes API",
                       "Kubernetes API server certificate not trusted: ");
  }
  if (reply.status == 401) {
    return check_failed("authentication", std::string(kubernetes_token_rejected_message));
  }
  if (reply.status == 403) {
    const std::string m = status_message(reply.body);
    return check_failed("forbidden", "Kubernetes API refused access: " +
                                         (m.empty() ? std::string("HTTP 403") : m));
  }
  const std::string summary = kubernetes_version_summary(reply.body);
  if (reply.status != 200 || summary.empty()) {
    const std::string m = status_message(reply.body);
    return check_failed("other", "the Kubernetes API at " + rt.api_url + " answered HTTP " +
                                     std::to_string(reply.status) + " to GET /version" +
                                     (m.empty() ? std::string() : ": " + m));
  }
  const json j = json::parse(reply.body, nullptr, false);
  connection_check c;
  c.ok = true;
  c.message = summary;
  c.details = {{"type", "kubernetes"},
               {"endpoint", rt.api_url},
               {"git_version", text(j, "gitVersion")},
               {"platform", text(j, "platform")},
               {"namespace", rt.namespace_}};
  // The API answers; whether builds can run there is told apart: a runtime only deployed to
  // needs other rights.
  std::string readiness;
  try {
    readiness = kaniko_readiness(rt, *where, headers, options, deadline);
  } catch (const http_unreachable& e) {
    readiness = std::string("not checked: ") + e.what();
  }
  c.details.emplace_back("kaniko_builds", readiness.empty() ? "ready" : readiness);
  c.message += readiness.empty() ? "; Kaniko builds: ready"
                                 : "; Kaniko builds: not possible: " + readiness;
  return c;
}

}  // namespace

std::string docker_version_summary(std::string_view version_json) {
  const json j = json::parse(version_json, nullptr, false);
  if (!j.is_object() || text(j, "ApiVersion").empty()) {
    return {};
  }
  std::string s = "Docker Engine API " + text(j, "ApiVersion") + ", server " + text(j, "Version") +
                  " (" + text(j, "Os") + "/" + text(j, "Arch") + ")";
  std::string components;
  if (auto it = j.find("Components"); it != j.end() && it->is_array()) {
    for (const auto& c : *it) {
      if (!c.is_object()) {
        continue;
      }
      const std::string name = text(c, "Name");
      const std::string version = first_line(text(c, "Version"));
      std::string one = name;
      if (!version.empty()) {
        const bool bare = std::isdigit(static_cast<unsigned char>(version.front())) != 0;
        one += bare ? " " + version : " (" + version + ")";
      }
      components += (components.empty() ? "" : ", ") + one;
    }
  }
  if (!components.empty()) {
    s += "; components: " + components;
  }
  return s;
}

std::string kubernetes_version_summary(std::string_view version_json) {
  const json j = json::parse(version_json, nullptr, false);
  if (!j.is_object() || text(j, "gitVersion").empty()) {
    return {};
  }
  std::string s = "Kubernetes " + text(j, "gitVersion");
  if (const std::string platform = text(j, "platform"); !platform.empty()) {
    s += " (" + platform + ")";
  }
  return s;
}

connection_check probe_runtime(const runtime_config& runtime, std::chrono::milliseconds timeout) {
  const check_deadline deadline(timeout);
  connection_check c = runtime.type == "kubernetes" ? probe_kubernetes(runtime, deadline)
                       : runtime.type == "docker"   ? probe_docker(runtime, deadline)
                                                    : check_failed("other", "unknown runtime type \"" +
                                                                                runtime.type + "\"");
  c.message = without_secrets(std::move(c.message), {runtime.token, runtime.tls_key});
  return c;
}

}  // namespace kiwi
