#include "daemon/webhook_installer.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

#include "common/http/http_client.hpp"
#include "common/config/resources.hpp"
#include "common/base/text.hpp"
#include "common/security/url_authority.hpp"
#include "common/security/redact.hpp"  // percent_encode

namespace kiwi {

namespace {

using json = nlohmann::json;

// host and repository path of a git URL: https://host/a/b.git, ssh://git@host:22/a/b.git,
// git@host:a/b.git. nullopt when there is no host (file://).
struct url_parts {
  std::string scheme;
  std::string host;
  std::string path;  // without the leading '/' and the ".git"
};

std::optional<url_parts> split_git_url(std::string_view url) {
  url_parts p;
  std::string_view rest = url;
  if (const auto sep = rest.find("://"); sep != std::string_view::npos) {
    p.scheme = std::string(rest.substr(0, sep));
    rest.remove_prefix(sep + 3);
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      return std::nullopt;
    }
    std::string_view authority = rest.substr(0, slash);
    rest.remove_prefix(slash + 1);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
      authority.remove_prefix(at + 1);
    }
    if (const auto colon = authority.rfind(':');
        colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
      authority = authority.substr(0, colon);
    }
    p.host = std::string(authority);
  } else if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    // scp-like: git@github.com:owner/repo.git
    std::string_view authority = rest.substr(0, colon);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
      authority.remove_prefix(at + 1);
    }
    p.scheme = "ssh";
    p.host = std::string(authority);
    rest.remove_prefix(colon + 1);
  } else {
    return std::nullopt;
  }
  while (rest.starts_with('/')) {
    rest.remove_prefix(1);
  }
  while (rest.ends_with('/')) {
    rest.remove_suffix(1);
  }
  if (rest.ends_with(".git")) {
    rest.remove_suffix(4);
  }
  p.path = std::string(rest);
  if (p.host.empty() || p.path.empty() || p.scheme == "file") {
    return std::nullopt;
  }
  return p;
}

// The error text a forge put in its answer ("Bad credentials", "403 Forbidden", ...).
std::string upstream_message(const http_reply& reply) {
  const json body = json::parse(reply.body, nullptr, false);
  if (body.is_object()) {
    for (const char* key : {"message", "error_description", "error"}) {
      if (auto it = body.find(key); it != body.end()) {
        return it->is_string() ? it->get<std::string>() : it->dump();
      }
    }
  }
  return "HTTP " + std::to_string(reply.status);
}

// One forge's API dialect.
struct forge_api {
  virtual ~forge_api() = default;
  virtual std::string hooks_path() const = 0;
  virtual header_list auth(const std::string& token) const = 0;
  virtual json hook_body(const webhook_install_request& r) const = 0;
  virtual std::string hook_url(const json& hook) const = 0;
  virtual std::string update_method() const = 0;
  // What to do about a 401/403/404 from this forge.
  virtual std::string refused(const forge_target& t, const http_reply& reply,
                              std::string_view step) const = 0;
};

struct github_api final : forge_api {
  explicit github_api(const forge_target& t) : target(t) {}
  const forge_target& target;

  std::string hooks_path() const override { return "/repos/" + target.project + "/hooks"; }
  header_list auth(const std::string& token) const override {
    return {{"Authorization", "Bearer " + token},
            {"Accept", "application/vnd.github+json"},
            {"X-GitHub-Api-Version", "2022-11-28"}};
  }
  json hook_body(const webhook_install_request& r) const override {
    // GitHub's push event covers tag pushes too; Kiwi decides with build_tags.
    return {{"name", "web"},
            {"active", true},
            {"events", {"push"}},
            {"config",
             {{"url", r.payload_url},
              {"content_type", "json"},
              {"secret", r.secret},
              {"insecure_ssl", "0"}}}};  // the forge always verifies kiwid's certificate
  }
  std::string hook_url(const json& hook) const override {
    const auto config = hook.find("config");
    if (config == hook.end() || !config->is_object()) {
      return {};
    }
    return config->value("url", "");
  }
  std::string update_method() const override { return "PATCH"; }
  std::string refused(const forge_target& t, const http_reply& reply,
                      std::string_view step) const override {
    const std::string said = upstream_message(reply);
    if (reply.status == 401) {
      return "GitHub rejected the service's token (" + said +
             "): give the service a valid personal access token";
    }
    // GitHub answers 404 rather than 403 when a token may not see a repository's hooks.
    std::string m = "GitHub refused to " + std::string(step) + " the webhooks of " + t.project +
                    " (HTTP " + std::to_string(reply.status) + " " + said +
                    "): a classic token needs the admin:repo_hook scope, a fine-grained token "
                    "the \"Webhooks\" repository permission (read and write), and the token's "
                    "user must be an admin of the repository";
    if (const auto scopes = reply.header("X-OAuth-Scopes"); !scopes.empty()) {
      m += "; the token has the scopes: " + std::string(scopes);
    } else if (reply.status == 404) {
      m += "; also check that the repository exists";
    }
    return m;
  }
};

struct gitlab_api final : forge_api {
  explicit gitlab_api(const forge_target& t) : target(t) {}
  const forge_target& target;

  std::string hooks_path() const override {
    return "/projects/" + percent_encode(target.project) + "/hooks";  // GitLab: group%2Fproject
  }
  header_list auth(const std::string& token) const override {
    return {{"PRIVATE-TOKEN", token}};
  }
  json hook_body(const webhook_install_request& r) const override {
    json body{{"url", r.payload_url},
              {"token", r.secret},
              {"push_events", true},
              {"tag_push_events", r.tag_pushes},
              {"enable_ssl_verification", true}};
    if (!r.branch.empty()) {
      body["push_events_branch_filter"] = r.branch;
    }
    return body;
  }
  std::string hook_url(const json& hook) const override { return hook.value("url", ""); }
  std::string update_method() const override { return "PUT"; }
  std::string refused(const forge_target& t, const http_reply& reply,
                      std::string_view step) const override {
    const std::string said = upstream_message(reply);
    if (reply.status == 401) {
      return "GitLab rejected the service's token (" + said +
             "): give the service a valid personal, project or group access token";
    }
    if (reply.status == 404) {
      return "GitLab project " + t.project + " was not found with the service's token (" + said +
             "): check the git URL, and that the token has the api scope and access to the "
             "project";
    }
    return "GitLab refused to " + std::string(step) + " the webhooks of " + t.project + " (HTTP " +
           std::to_string(reply.status) + " " + said +
           "): the token needs the api scope, and its user the Maintainer role on the project";
  }
};

}  // namespace

forge_target forge_target_for(std::string_view git_url, std::string_view provider,
                              std::string_view api_url) {
  forge_target t;
  const auto parts = split_git_url(git_url);
  if (!parts) {
    throw field_error("git_url", "the git URL has no host and repository path a forge's API "
                                 "could manage hooks for");
  }
  const std::string host = to_lower_ascii(parts->host);
  t.project = parts->path;
  t.provider = to_lower_ascii(provider);
  if (t.provider.empty()) {
    if (host == "github.com" || host.find("github") != std::string::npos) {
      t.provider = "github";
    } else if (host == "gitlab.com" || host.find("gitlab") != std::string::npos) {
      t.provider = "gitlab";
    } else {
      throw field_error("provider", "cannot tell from " + host +
                                        " whether it is GitHub or GitLab: give \"provider\" "
                                        "(github or gitlab) and, if needed, \"api_url\"");
    }
  } else if (t.provider != "github" && t.provider != "gitlab") {
    throw field_error("provider", "provider must be github or gitlab");
  }
  // The service's token goes to api_url: only to the git host's own API (or api.github.com for
  // github.com), over https unless the git URL itself is plain http.
  const bool plain_http = parts->scheme == "http";
  const std::string own_host = host == "github.com" ? "api.github.com" : host;
  if (!api_url.empty()) {
    const auto given = parse_url_authority(api_url);
    if (!parse_http_endpoint(api_url) || api_url.starts_with("unix:") || !given) {
      throw field_error("api_url", "api_url must be an http(s):// URL such as "
                                   "https://github.example.com/api/v3");
    }
    if (given->host != own_host || (given->scheme != "https" && !plain_http) ||
        !given->userinfo.empty()) {
      throw field_error("api_url", "api_url must be the API of the service's git host (" +
                                       std::string(plain_http ? "http" : "https") + "://" +
                                       own_host + "/...): the service's token is sent there");
    }
    t.api_url = std::string(api_url);
    while (t.api_url.ends_with('/')) {
      t.api_url.pop_back();
    }
    return t;
  }
  // An http(s) git URL's port is the web server's, which serves the API too.
  const auto git = parse_url_authority(git_url);
  const bool web_port = git && (git->scheme == "http" || git->scheme == "https") &&
                        git->port != (plain_http ? "80" : "443");
  const std::string origin = std::string(plain_http ? "http://" : "https://") +
                             (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                             (web_port ? ":" + git->port : "");
  if (t.provider == "github") {
    // GitHub Enterprise Server serves its API under /api/v3 of its own host.
    t.api_url = host == "github.com" ? "https://api.github.com" : origin + "/api/v3";
  } else {
    t.api_url = origin + "/api/v4";
  }
  return t;
}

webhook_install_result install_webhook(const webhook_install_request& request) {
  webhook_install_result result;
  const forge_target& t = request.target;
  github_api github(t);
  gitlab_api gitlab(t);
  const forge_api& api = t.provider == "github" ? static_cast<const forge_api&>(github) : gitlab;
  const std::string forge_name = t.provider == "github" ? "GitHub" : "GitLab";

  auto endpoint = parse_http_endpoint(t.api_url);
  if (!endpoint || !endpoint->socket_path.empty()) {
    result.error = "api_url " + t.api_url + " is not an http(s):// URL";
    return result;
  }
  http_options options;
  options.peer = forge_name + "'s API";
  options.hint = "check the API URL and that kiwid can reach it";
  options.timeout = request.timeout;
  options.connect_timeout = request.timeout;
  http_client client(std::move(*endpoint), std::move(options));
  client.set_default_headers(api.auth(request.token));

  try {
    // An existing hook with the same payload URL is updated, not duplicated: installing twice
    // (or after rotating the secret) leaves one hook carrying the current secret.
    const std::string list_path = api.hooks_path() + "?per_page=100";
    const http_reply listed = client.request("GET", list_path);
    if (listed.status >= 500) {
      result.upstream_unreachable = true;
      result.error = forge_name + " answered " + std::to_string(listed.status) +
                     " listing the webhooks of " + t.project + "; try again later";
      return result;
    }
    if (listed.status != 200) {
      result.error = api.refused(t, listed, "list");
      return result;
    }
    std::string existing_id;
    const json hooks = json::parse(listed.body, nullptr, false);
    if (hooks.is_array()) {
      for (const json& hook : hooks) {
        if (hook.is_object() && api.hook_url(hook) == request.payload_url) {
          existing_id = hook.contains("id") ? hook["id"].dump() : "";
          break;
        }
      }
    }
    const std::string body = api.hook_body(request).dump();
    const bool update = !existing_id.empty();
    const http_reply written =
        update ? client.request(api.update_method(), api.hooks_path() + "/" + existing_id, &body)
               : client.request("POST", api.hooks_path(), &body);
    if (written.status >= 500) {
      result.upstream_unreachable = true;
      result.error = forge_name + " answered " + std::to_string(written.status) +
                     (update ? " updating" : " creating") + " the webhook of " + t.project +
                     "; try again later";
      return result;
    }
    if (written.status != 200 && written.status != 201) {
      if (written.status == 401 || written.status == 403 || written.status == 404) {
        result.error = api.refused(t, written, update ? "update" : "create");
      } else {
        result.error = forge_name + " did not accept the webhook for " + t.project + " (HTTP " +
                       std::to_string(written.status) + " " + upstream_message(written) + ")";
      }
      return result;
    }
    const json hook = json::parse(written.body, nullptr, false);
    result.ok = true;
    result.action = update ? "updated" : "created";
    result.hook_id = hook.is_object() && hook.contains("id") ? hook["id"].dump() : existing_id;
    return result;
  } catch (const http_unreachable& e) {
    result.upstream_unreachable = true;
    result.error = e.what();
    return result;
  }
}

}  // namespace kiwi
