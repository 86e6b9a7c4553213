#include "common/config/resources.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/base/json_fields.hpp"
#include "common/config/resource_fields.hpp"

namespace kiwi {

using json = nlohmann::json;
using namespace json_fields;
using namespace resource_fields;

bool resource_fields::is_quantity(std::string_view q) {
  static const std::array<std::string_view, 13> suffixes = {
      "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E"};
  std::size_t digits = 0;
  while (digits < q.size() && (std::isdigit(static_cast<unsigned char>(q[digits])) ||
                               q[digits] == '.')) {
    ++digits;
  }
  if (digits == 0 || q.front() == '.' || q.substr(0, digits).ends_with('.')) {
    return false;
  }
  const std::string_view rest = q.substr(digits);
  return rest.empty() || std::find(suffixes.begin(), suffixes.end(), rest) != suffixes.end();
}

namespace {

// A DNS-1123 subdomain: labels joined by dots, at most 253 characters (service account names).
bool is_dns1123_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  for (std::size_t start = 0;;) {
    const std::size_t dot = name.find('.', start);
    if (!is_dns1123_label(name.substr(start, dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

kaniko_settings parse_kaniko(const json& j) {
  if (!j.is_object()) {
    fail("kaniko", "must be an object: {\"image\", \"cpu_request\", \"memory_limit\", ...}");
  }
  reject_unknown(j, "kaniko.", {"image", "git_image", "cpu_request", "memory_request", "cpu_limit",
                                "memory_limit", "service_account", "pending_timeout_s",
                                "poll_interval_ms", "cache"});
  kaniko_settings k;
  k.image = get_string(j, "image", "kaniko.image", false, k.image);
  if (k.image.empty() || k.image.find_first_of(" \t\n") != std::string::npos) {
    fail("kaniko.image", "must be one image reference, e.g. " + kaniko_settings{}.image);
  }
  k.git_image = get_string(j, "git_image", "kaniko.git_image", false, k.git_image);
  if (k.git_image.empty() || k.git_image.find_first_of(" \t\n") != std::string::npos) {
    fail("kaniko.git_image", "must be one image reference with git and sh, e.g. " +
                                 kaniko_settings{}.git_image);
  }
  struct quantity {
    const char* key;
    std::string* value;
    bool required;
  };
  for (const quantity& q : {quantity{"cpu_request", &k.cpu_request, true},
                            quantity{"memory_request", &k.memory_request, true},
                            quantity{"cpu_limit", &k.cpu_limit, false},
                            quantity{"memory_limit", &k.memory_limit, false}}) {
    const std::string path = std::string("kaniko.") + q.key;
    *q.value = get_string(j, q.key, path, false, *q.value);
    if ((q.required || !q.value->empty()) && !is_quantity(*q.value)) {
      fail(path, "\"" + *q.value + "\" is not a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi");
    }
  }
  k.service_account = get_string(j, "service_account", "kaniko.service_account", false);
  if (!k.service_account.empty() && !is_dns1123_subdomain(k.service_account)) {
    fail("kaniko.service_account", "\"" + k.service_account + "\" is not a valid name");
  }
  k.pending_timeout_s =
      get_uint(j, "pending_timeout_s", "kaniko.pending_timeout_s", k.pending_timeout_s, 1, 86400);
  k.poll_interval_ms =
      get_uint(j, "poll_interval_ms", "kaniko.poll_interval_ms", k.poll_interval_ms, 50, 60000);
  k.cache = get_bool(j, "cache", "kaniko.cache", k.cache);
  return k;
}

}  // namespace

runtime_config parse_runtime(const json& j, const parse_context& ctx) {
  if (!j.is_object()) {
    fail("", "a runtime must be a JSON object");
  }
  runtime_config r;
  r.type = get_string(j, "type", "type", true);
  if (r.type == "kubernetes") {
    reject_unknown(j, "", {"name", "type", "api_url", "ca_file", "ca_cert", "token", "token_file",
                           "namespace", "kaniko", "deploy_force_conflicts"});
  } else if (r.type == "docker") {
    reject_unknown(j, "", {"name", "type", "socket", "url", "tls_ca_cert", "tls_cert", "tls_key"});
  } else {
    fail("type", "must be kubernetes or docker");
  }
  r.name = get_string(j, "name", "name", true);
  if (!is_dns1123_label(r.name) || r.name == "local") {
    fail("name", "\"" + r.name + "\" must be a DNS-1123 label other than \"local\" "
                 "(which means buildah on the worker), e.g. prod-cluster");
  }
  if (r.type == "kubernetes") {
    r.api_url = get_string(j, "api_url", "api_url", true);
    refuse_userinfo(r.api_url, "api_url", "\"token\"");
    if (!has_scheme(r.api_url, "https://")) {
      fail("api_url", "must be the API server's https:// URL (kubectl config view --minify)");
    }
    if (member(j, "ca_file") && member(j, "ca_cert")) {
      fail("ca_cert", "give either ca_cert (PEM) or ca_file, not both");
    }
    if (member(j, "ca_file")) {
      if (!ctx.base_dir) {
        fail("ca_file", "files are read only from the config file; send ca_cert (PEM) itself");
      }
      r.ca_cert = read_file_field(get_string(j, "ca_file", "ca_file", true), *ctx.base_dir,
                                  "ca_file");
    } else {
      r.ca_cert = get_string(j, "ca_cert", "ca_cert", false);
    }
    if (!r.ca_cert.empty() && r.ca_cert.find("BEGIN CERTIFICATE") == std::string::npos) {
      fail(member(j, "ca_file") ? "ca_file" : "ca_cert", "must be a PEM certificate");
    }
    r.token = secret_field(j, "token", "token_file", ctx);
    if (r.token.empty()) {
      fail("token", "is required: a service account's bearer token");
    }
    r.namespace_ = get_string(j, "namespace", "namespace", false, "default");
    if (!is_dns1123_label(r.namespace_)) {
      fail("namespace", "\"" + r.namespace_ + "\" is not a valid namespace name");
    }
    if (member(j, "kaniko")) {
      r.kaniko = parse_kaniko(j.at("kaniko"));
    }
    r.deploy_force_conflicts =
        get_bool(j, "deploy_force_conflicts", "deploy_force_conflicts", r.deploy_force_conflicts);
  } else {
    r.socket = get_string(j, "socket", "socket", false);
    r.url = get_string(j, "url", "url", false);
    if (r.socket.empty() == r.url.empty()) {
      fail("socket", "give either socket (e.g. /run/docker.sock, /run/podman/podman.sock) or "
                     "url (tcp://host:2376)");
    }
    if (!r.socket.empty() && r.socket.front() != '/') {
      fail("socket", "must be an absolute path such as /run/docker.sock");
    }
    refuse_userinfo(r.url, "url", "\"tls_cert\" and \"tls_key\"");
    if (!r.url.empty() && !has_scheme(r.url, "tcp://")) {
      fail("url", "must be tcp://host:port");
    }
    r.tls_ca_cert = get_string(j, "tls_ca_cert", "tls_ca_cert", false);
    r.tls_cert = get_string(j, "tls_cert", "tls_cert", false);
    r.tls_key = get_string(j, "tls_key", "tls_key", false);
  }
  return r;
}

}  // namespace kiwi
