#include "common/config/resources.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/build/dockerfile.hpp"
#include "common/base/json_fields.hpp"
#include "common/git/ssh_known_hosts.hpp"
#include "common/security/url_authority.hpp"

namespace kiwi {
namespace {

using json = nlohmann::json;
using namespace json_fields;

bool has_scheme(std::string_view url, std::string_view scheme) { return url.starts_with(scheme); }

// No URL carries a credential: "https://TOKEN@host/..." would be shown to every viewer and
// sent wherever the URL leads. ssh:// may name the user to log in as (ssh://git@host/...),
// never a password. The message never repeats the userinfo.
void refuse_userinfo(const std::string& url, const char* field, const char* where_secret_goes,
                     bool user_allowed = false) {
  const auto a = parse_url_authority(url);
  if (!a || a->userinfo.empty()) {
    return;
  }
  if (user_allowed && a->userinfo.find(':') == std::string::npos) {
    return;
  }
  fail(field, std::string("must not carry credentials before '@' (they would be shown to every "
                          "viewer); remove them from the URL and put the secret in ") +
                  where_secret_goes);
}

// A secret given inline ("token") or in a file ("token_file"): at most one of the two; files
// only where the context allows them (the config file).
std::string secret_field(const json& j, const char* key, const char* file_key,
                         const parse_context& ctx) {
  const bool inline_value = member(j, key) != nullptr;
  const bool from_file = member(j, file_key) != nullptr;
  if (inline_value && from_file) {
    fail(key, std::string("give either \"") + key + "\" or \"" + file_key + "\", not both");
  }
  if (from_file) {
    if (!ctx.base_dir) {
      fail(file_key, std::string("files are read only from the config file; send \"") + key +
                         "\" itself");
    }
    return read_file_field(get_string(j, file_key, file_key, true), *ctx.base_dir, file_key);
  }
  return get_string(j, key, key, false);
}

dockerfile_config parse_dockerfile(const json& j) {
  dockerfile_config d;
  if (!j.is_object()) {
    fail("dockerfile", R"(must be an object: {"mode":"auto"}, {"mode":"path","path":...} or )"
                       R"({"mode":"wizard","language":...})");
  }
  reject_unknown(j, "dockerfile", {"mode", "path", "context", "language", "framework"});
  d.mode = get_string(j, "mode", "dockerfile.mode", true);
  if (d.mode == "auto") {
    if (member(j, "path") || member(j, "language")) {
      fail("dockerfile.mode", "mode auto takes no path or language; use mode path or wizard");
    }
  } else if (d.mode == "path") {
    d.path = get_string(j, "path", "dockerfile.path", true);
    d.context = get_string(j, "context", "dockerfile.context", false, ".");
    for (const auto* p : {&d.path, &d.context}) {
      const std::string field = p == &d.path ? "dockerfile.path" : "dockerfile.context";
      if (p->empty() || p->front() == '/') {
        fail(field, "must be a path relative to the repository, e.g. docker/Dockerfile");
      }
      if (("/" + *p + "/").find("/../") != std::string::npos) {
        fail(field, "must stay inside the repository (no \"..\")");
      }
    }
  } else if (d.mode == "wizard") {
    d.language = get_string(j, "language", "dockerfile.language", false);
    d.framework = get_string(j, "framework", "dockerfile.framework", false);
    if (auto problem = check_wizard_choice(d.language, d.framework)) {
      fail(problem->field, problem->message);
    }
  } else if (d.mode == "none") {
    // Clone only: no image is built (a service whose pipeline ends at the checkout).
    if (member(j, "path") || member(j, "language")) {
      fail("dockerfile.mode", "mode none takes no path or language");
    }
  } else {
    fail("dockerfile.mode", "must be auto, path, wizard or none");
  }
  return d;
}

}  // namespace

bool is_dns1123_label(std::string_view name) {
  if (name.empty() || name.size() > 63) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') {
      return false;
    }
  }
  return alnum(name.front()) && alnum(name.back());
}

service_config parse_service(const json& j, const parse_context& ctx) {
  if (!j.is_object()) {
    fail("", "a service must be a JSON object");
  }
  reject_unknown(j, "",
                 {"name", "git_url", "branch", "token", "token_file", "ssh_key", "ssh_key_file",
                  "ssh_known_hosts", "git_username", "webhook_secret", "build_tags", "cancel_superseded",
                  "max_concurrent_builds", "dockerfile", "registry", "image", "tag_rule",
                  "build_runtime"});
  service_config s;
  s.name = get_string(j, "name", "name", true);
  if (!is_dns1123_label(s.name)) {
    fail("name", "\"" + s.name +
                     "\" is not a DNS-1123 label: use 1-63 lowercase letters, digits and "
                     "'-', starting and ending with a letter or digit (e.g. user-api)");
  }
  s.git_url = get_string(j, "git_url", "git_url", true);
  if (!(has_scheme(s.git_url, "https://") || has_scheme(s.git_url, "http://") ||
        has_scheme(s.git_url, "ssh://") || has_scheme(s.git_url, "git://") ||
        has_scheme(s.git_url, "file://"))) {
    fail("git_url", "must start with https://, http://, ssh://, git:// or file://");
  }
  refuse_userinfo(s.git_url, "git_url",
                  has_scheme(s.git_url, "ssh://") ? "\"ssh_key\"" : "\"token\"",
                  has_scheme(s.git_url, "ssh://"));
  if (has_scheme(s.git_url, "http") && !s.git_url.ends_with(".git") &&
      (s.git_url.find("github.com/") != std::string::npos ||
       s.git_url.find("gitlab") != std::string::npos)) {
    fail("git_url", "looks like a web page URL; use the clone URL, which ends with .git (" +
                        s.git_url + ".git)");
  }
  s.branch = get_string(j, "branch", "branch", true);
  if (s.branch.empty() || s.branch.starts_with("refs/")) {
    fail("branch", "must be a branch name such as \"main\" (without refs/heads/)");
  }
  s.token = secret_field(j, "token", "token_file", ctx);
  s.ssh_key = secret_field(j, "ssh_key", "ssh_key_file", ctx);
  if (!s.token.empty() && !s.ssh_key.empty()) {
    fail("ssh_key", "give a token (https) or an ssh_key (ssh://), not both");
  }
  if (!s.ssh_key.empty() && !has_scheme(s.git_url, "ssh://")) {
    fail("ssh_key", "an SSH key needs an ssh:// git_url");
  }
  if (!s.ssh_key.empty() && s.ssh_key.find("BEGIN OPENSSH PRIVATE KEY") == std::string::npos) {
    fail("ssh_key", "must be an ed25519 private key in OpenSSH format "
                    "(ssh-keygen -t ed25519 -f key; paste the contents of key)");
  }
  s.ssh_known_hosts = get_string(j, "ssh_known_hosts", "ssh_known_hosts", false);
  if (!s.ssh_known_hosts.empty()) {
    if (!has_scheme(s.git_url, "ssh://")) {
      fail("ssh_known_hosts", "pins an SSH server's host key: it needs an ssh:// git_url");
    }
    if (auto problem = ssh::check_known_hosts(s.ssh_known_hosts); !problem.empty()) {
      fail("ssh_known_hosts", problem);
    }
  }
  s.git_username = get_string(j, "git_username", "git_username", false);
  if (s.git_username.empty()) {
    s.git_username = s.git_url.find("github") != std::string::npos ? "x-access-token" : "oauth2";
  }
  s.webhook_secret = get_string(j, "webhook_secret", "webhook_secret", ctx.webhook_secret_required);
  if ((ctx.webhook_secret_required || !s.webhook_secret.empty()) &&
      s.webhook_secret.size() < 16) {
    fail("webhook_secret", "must be at least 16 characters (use a long random string)");
  }
  s.build_tags = get_bool(j, "build_tags", "build_tags", false);
  s.cancel_superseded = get_bool(j, "cancel_superseded", "cancel_superseded", true);
  s.max_concurrent_builds = static_cast<unsigned>(
      get_uint(j, "max_concurrent_builds", "max_concurrent_builds", 1, 1, 1000));
  if (const json* d = member(j, "dockerfile")) {
    s.dockerfile = parse_dockerfile(*d);
  }
  s.registry = get_string(j, "registry", "registry", false);
  s.image = get_string(j, "image", "image", false);
  if (!s.registry.empty() && s.image.empty()) {
    fail("image", "is required with a registry (e.g. library/user-api)");
  }
  for (char c : s.image) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
          c == '_' || c == '-')) {
      fail("image", "\"" + s.image + "\" is not a valid repository name: lowercase letters, "
                    "digits, '/', '.', '_' and '-' (e.g. library/user-api)");
    }
  }
  s.tag_rule = get_string(j, "tag_rule", "tag_rule", false, s.tag_rule);
  if (auto problem = check_tag_rule(s.tag_rule); !problem.empty()) {
    fail("tag_rule", problem);
  }
  s.build_runtime = get_string(j, "build_runtime", "build_runtime", false, "local");
  if (s.build_runtime != "local" && !is_dns1123_label(s.build_runtime)) {
    fail("build_runtime", "must be \"local\" (buildah on the worker) or a Kubernetes runtime's "
                          "name");
  }
  return s;
}

registry_config parse_registry(const json& j, const parse_context& ctx) {
  if (!j.is_object()) {
    fail("", "a registry must be a JSON object");
  }
  reject_unknown(j, "", {"name", "url", "username", "password", "password_file", "insecure"});
  registry_config r;
  r.name = get_string(j, "name", "name", true);
  if (!is_dns1123_label(r.name)) {
    fail("name", "\"" + r.name + "\" is not a DNS-1123 label (e.g. harbor-main)");
  }
  r.url = get_string(j, "url", "url", true);
  refuse_userinfo(r.url, "url", "\"username\" and \"password\"");
  if (r.url.empty() || r.url.find(' ') != std::string::npos ||
      r.url.find('/', r.url.find("://") == std::string::npos ? 0 : r.url.find("://") + 3) !=
          std::string::npos) {
    fail("url", "must be a registry host such as harbor.company.com, docker.io or "
                "https://registry.local:5000 (no path)");
  }
  r.username = get_string(j, "username", "username", false);
  r.password = secret_field(j, "password", "password_file", ctx);
  if (r.username.empty() != r.password.empty()) {
    fail(r.username.empty() ? "username" : "password",
         "give both username and password (or neither, for anonymous access)");
  }
  r.insecure = get_bool(j, "insecure", "insecure", false);
  return r;
}

namespace {

// A Kubernetes resource quantity such as 500m, 2, 1.5, 512Mi, 4Gi (empty allowed: none).
bool is_quantity(std::string_view q) {
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
                           "namespace", "kaniko"});
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

namespace {
json secret(const std::string& value, bool include) {
  if (value.empty()) {
    return nullptr;
  }
  return include ? json(value) : json("***");
}
}  // namespace

json to_json(const service_config& s, bool include_secrets) {
  json d{{"mode", s.dockerfile.mode}};
  if (s.dockerfile.mode == "path") {
    d["path"] = s.dockerfile.path;
    d["context"] = s.dockerfile.context;
  } else if (s.dockerfile.mode == "wizard") {
    d["language"] = s.dockerfile.language;
    d["framework"] = s.dockerfile.framework;
  }
  json j{{"name", s.name},
         {"git_url", s.git_url},
         {"branch", s.branch},
         {"git_username", s.git_username},
         {"build_tags", s.build_tags},
         {"cancel_superseded", s.cancel_superseded},
         {"max_concurrent_builds", s.max_concurrent_builds},
         {"dockerfile", d},
         {"registry", s.registry},
         {"image", s.image},
         {"tag_rule", s.tag_rule},
         {"build_runtime", s.build_runtime}};
  for (auto [key, value] : {std::pair{"token", &s.token}, std::pair{"ssh_key", &s.ssh_key},
                            std::pair{"webhook_secret", &s.webhook_secret}}) {
    if (!value->empty()) {
      j[key] = secret(*value, include_secrets);
    }
  }
  if (!s.ssh_known_hosts.empty()) {
    j["ssh_known_hosts"] = s.ssh_known_hosts;  // public keys: shown as they are
  }
  return j;
}

json to_json(const registry_config& r, bool include_secrets) {
  json j{{"name", r.name}, {"url", r.url}, {"username", r.username}, {"insecure", r.insecure}};
  if (!r.password.empty()) {
    j["password"] = secret(r.password, include_secrets);
  }
  return j;
}

json to_json(const runtime_config& r, bool include_secrets) {
  json j{{"name", r.name}, {"type", r.type}};
  if (r.type == "kubernetes") {
    j["api_url"] = r.api_url;
    j["namespace"] = r.namespace_;
    if (!r.ca_cert.empty()) j["ca_cert"] = r.ca_cert;
    j["token"] = secret(r.token, include_secrets);
    const kaniko_settings& k = r.kaniko;
    j["kaniko"] = {{"image", k.image},
                   {"git_image", k.git_image},
                   {"cpu_request", k.cpu_request},
                   {"memory_request", k.memory_request},
                   {"cpu_limit", k.cpu_limit},
                   {"memory_limit", k.memory_limit},
                   {"service_account", k.service_account},
                   {"pending_timeout_s", k.pending_timeout_s},
                   {"poll_interval_ms", k.poll_interval_ms},
                   {"cache", k.cache}};
  } else {
    if (!r.socket.empty()) j["socket"] = r.socket;
    if (!r.url.empty()) j["url"] = r.url;
    if (!r.tls_ca_cert.empty()) j["tls_ca_cert"] = r.tls_ca_cert;
    if (!r.tls_cert.empty()) j["tls_cert"] = r.tls_cert;
    if (!r.tls_key.empty()) j["tls_key"] = secret(r.tls_key, include_secrets);
  }
  return j;
}

}  // namespace kiwi
