#include "common/config/resources.hpp"

#include <algorithm>
#include <iterator>

#include "common/build/dockerfile.hpp"
#include "common/config/deploy_environment.hpp"
#include "common/base/json_fields.hpp"
#include "common/git/ssh_known_hosts.hpp"
#include "common/config/resource_fields.hpp"
#include "common/security/url_authority.hpp"

namespace kiwi {

namespace resource_fields {

using json = nlohmann::json;
using namespace json_fields;

void refuse_userinfo(const std::string& url, const char* field, const char* where_secret_goes,
                     bool user_allowed) {
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

}  // namespace resource_fields

using json = nlohmann::json;
using namespace json_fields;
using namespace resource_fields;

namespace {

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

// YYYY-MM-DD with a month and day that exist (leap years included).
bool is_date(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') {
    return false;
  }
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (d[i] < '0' || d[i] > '9') {
      return false;
    }
  }
  const int year = std::stoi(d.substr(0, 4)), month = std::stoi(d.substr(5, 2)),
            day = std::stoi(d.substr(8, 2));
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month >= 1 && month <= 12 && day >= 1 && day <= days[month - 1];
}

// scan: {"enabled", "fail_on", "ignore_unfixed", "ignore": ["CVE-..." | {"id", "expires",
// "reason"}]} (docs/scan.md).
scan_config parse_scan(const json& j) {
  if (!j.is_object()) {
    fail("scan", R"(must be an object, e.g. {"fail_on": "CRITICAL", "ignore": ["CVE-2024-1234"]})");
  }
  reject_unknown(j, "scan", {"enabled", "fail_on", "ignore_unfixed", "ignore"});
  scan_config c;
  c.enabled = get_bool(j, "enabled", "scan.enabled", true);
  c.fail_on = get_string(j, "fail_on", "scan.fail_on", false, c.fail_on);
  static constexpr std::string_view levels[] = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN",
                                                "NONE"};
  if (std::find(std::begin(levels), std::end(levels), c.fail_on) == std::end(levels)) {
    fail("scan.fail_on", "must be one of CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN (the lowest "
                         "severity that fails the build) or NONE (report only)");
  }
  c.ignore_unfixed = get_bool(j, "ignore_unfixed", "scan.ignore_unfixed", false);
  const json* list = member(j, "ignore");
  if (list == nullptr) {
    return c;
  }
  if (!list->is_array()) {
    fail("scan.ignore", R"(must be a list of ids ("CVE-2024-1234") or objects )"
                        R"({"id", "expires": "YYYY-MM-DD", "reason"})");
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    const std::string at = "scan.ignore[" + std::to_string(i) + "]";
    scan_ignore entry;
    if (e.is_string()) {
      entry.id = e.get<std::string>();
    } else if (e.is_object()) {
      reject_unknown(e, at, {"id", "expires", "reason"});
      entry.id = get_string(e, "id", at + ".id", true);
      entry.expires = get_string(e, "expires", at + ".expires", false);
      entry.reason = get_string(e, "reason", at + ".reason", false);
      if (!entry.expires.empty() && !is_date(entry.expires)) {
        fail(at + ".expires", "\"" + entry.expires + "\" is not a date: write YYYY-MM-DD, "
                              "e.g. 2027-01-31 (the entry holds through that day, UTC)");
      }
    } else {
      fail(at, R"(must be an id ("CVE-2024-1234") or {"id", "expires", "reason"})");
    }
    const bool printable = std::all_of(entry.id.begin(), entry.id.end(), [](char ch) {
      return ch > ' ' && ch < 127;
    });
    if (entry.id.empty() || entry.id.size() > 128 || !printable) {
      fail(e.is_string() ? at : at + ".id",
           "must be a vulnerability id as the scanner reports it, e.g. CVE-2024-1234 or "
           "GHSA-xxxx-xxxx-xxxx");
    }
    c.ignore.push_back(std::move(entry));
  }
  return c;
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
                  "build_runtime", "deploy", "scan"});
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
  if (const json* d = member(j, "deploy")) {
    s.deploy = parse_deploy(*d);
    if (!s.deploy.empty() && s.registry.empty()) {
      fail("deploy", "deploys pull the image from a registry: set the service's \"registry\" "
                     "and \"image\"");
    }
  }
  if (const json* scan = member(j, "scan")) {
    s.scan = parse_scan(*scan);
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

}  // namespace kiwi
