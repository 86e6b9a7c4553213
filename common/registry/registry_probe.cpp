#include "common/registry/registry_probe.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

#include "common/base/text.hpp"
#include "common/security/crypto.hpp"
#include "common/security/redact.hpp"  // percent_encode

namespace kiwi {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// "https://auth.example.com:8443/token?x=1" -> origin "https://auth.example.com:8443" and
// target "/token?x=1".
std::pair<std::string, std::string> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto slash = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (slash == std::string::npos) {
    return {url, "/"};
  }
  return {url.substr(0, slash), url.substr(slash)};
}

std::string authority_of(const http_endpoint& e) {
  const bool default_port = e.port == (e.tls ? "443" : "80");
  return default_port ? e.host : e.host + ":" + e.port;
}

// One run of the flow: the registry's endpoint, what the user gave, the deadline.
class registry_login {
 public:
  registry_login(const registry_config& registry, std::chrono::milliseconds timeout)
      : registry_(registry), deadline_(timeout) {
    if (!registry.username.empty()) {
      basic_ = "Basic " + base64_encode(registry.username + ":" + registry.password);
    }
  }

  connection_check run() {
    const auto attempts = registry_attempts(registry_);
    for (std::size_t i = 0; i < attempts.size(); ++i) {
      const bool last = i + 1 == attempts.size();
      auto where = parse_http_endpoint(attempts[i].base_url);
      if (!where) {
        return check_failed("other", "\"" + registry_.url +
                                         "\" is not a registry address such as "
                                         "harbor.company.com or https://registry.local:5000");
      }
      tls_.verify = attempts[i].verify_tls;
      http_reply first;
      try {
        first = get(*where, "/v2/", {}, "the registry");
      } catch (const http_unreachable& e) {
        // A registry marked insecure that does not speak TLS: on to plain http.
        const bool next = e.failed_step == http_unreachable::step::tls ||
                          e.failed_step == http_unreachable::step::connect;
        if (last || !next) {
          return scrubbed(unreachable(e, "the registry"));
        }
        continue;
      }
      registry_endpoint_ = *where;
      fell_back_ = i > 0;
      if (const auto v = first.header("Docker-Distribution-Api-Version"); !v.empty()) {
        api_version_ = std::string(v);
      }
      try {
        return scrubbed(after_first(first));
      } catch (const http_unreachable& e) {
        return scrubbed(unreachable(e, "the registry"));
      }
    }
    return check_failed("other", "no registry address to try");
  }

 private:
  http_reply get(const http_endpoint& where, const std::string& target, const header_list& headers,
                 const std::string& peer) {
    http_options options;
    options.peer = peer;
    options.hint = "check the registry URL and that the registry is running";
    options.tls_hint =
        "if the registry has a self-signed or private certificate, add its CA to this "
        "machine's trusted CAs, or mark the registry insecure (unverified TLS, or plain http)";
    options.tls = tls_;
    return bounded_get(where, target, headers, options, deadline_);
  }

  connection_check unreachable(const http_unreachable& e, const std::string& what) const {
    if (e.failed_step == http_unreachable::step::tls) {
      return check_failed("certificate", "TLS with " + what + " failed: " + e.what());
    }
    return check_failed(e.timed_out ? "timeout" : "unreachable",
                        std::string("Registry unreachable: ") + e.what());
  }

  connection_check after_first(const http_reply& reply) {
    if (reply.status == 200) {
      std::string message = "anonymous access allowed at " + describe();
      if (!basic_.empty()) {
        message += "; the credentials were not checked: the registry asked for none";
      }
      return ok("anonymous", message);
    }
    if (reply.status == 404) {
      return check_failed("not_found", registry_endpoint_.url + " is not a Docker registry: GET "
                                       "/v2/ answered 404 (no registry v2 API there); check the "
                                       "registry URL");
    }
    if (reply.status != 401) {
      return unexpected(reply, "GET /v2/");
    }
    const auto challenge = parse_auth_challenge(reply.header("WWW-Authenticate"));
    if (!challenge) {
      return check_failed("other", "the registry at " + registry_endpoint_.url +
                                       " answered 401 to GET /v2/ without a WWW-Authenticate "
                                       "challenge");
    }
    if (challenge->scheme == "basic") {
      if (basic_.empty()) {
        return check_failed("authentication", std::string(registry_auth_failed_message));
      }
      const http_reply again = get(registry_endpoint_, "/v2/", {{"Authorization", basic_}},
                                   "the registry");
      return final_answer(again, "basic", "authenticated with Basic at " + describe_with(again));
    }
    if (challenge->scheme == "bearer") {
      return bearer(*challenge);
    }
    return check_failed("other", "the registry asks for \"" + challenge->scheme +
                                     "\" authentication, which Kiwi does not speak (Basic and "
                                     "Bearer tokens only)");
  }

  connection_check bearer(const auth_challenge& challenge) {
    auto realm_it = challenge.params.find("realm");
    const std::string realm = realm_it == challenge.params.end() ? "" : realm_it->second;
    auto [origin, target] = split_url(realm);
    const auto service = parse_http_endpoint(origin);
    if (!service || !service->socket_path.empty()) {
      return check_failed("other", "the registry's token realm \"" + realm +
                                       "\" is not an http(s) URL");
    }
    std::string sep = target.find('?') == std::string::npos ? "?" : "&";
    for (const char* key : {"service", "scope"}) {
      if (auto it = challenge.params.find(key); it != challenge.params.end()) {
        target += sep + key + "=" + percent_encode(it->second);
        sep = "&";
      }
    }
    const std::string token_host = authority_of(*service);
    header_list headers;
    if (!basic_.empty()) {
      headers.emplace_back("Authorization", basic_);
    }
    http_reply answer;
    try {
      answer = get(*service, target, headers, "the registry's token service");
    } catch (const http_unreachable& e) {
      return unreachable(e, "the registry's token service");
    }
    if (answer.status == 401 || answer.status == 403) {
      return check_failed("authentication", std::string(registry_auth_failed_message));
    }
    if (answer.status != 200) {
      return check_failed("other", "the registry's token service at " + token_host +
                                       " answered HTTP " + std::to_string(answer.status));
    }
    const auto found = bearer_token_of(answer.body);
    if (!found) {
      return check_failed("other", "the registry's token service at " + token_host +
                                       " answered without a token");
    }
    token_ = *found;
    token_service_ = token_host;
    const http_reply again =
        get(registry_endpoint_, "/v2/", {{"Authorization", "Bearer " + token_}},
            "the registry");
    return final_answer(again, "bearer", "authenticated with a Bearer token from " + token_host +
                                             " at " + describe_with(again));
  }

  connection_check final_answer(const http_reply& reply, const std::string& auth,
                                const std::string& message) {
    if (reply.status == 401 || reply.status == 403) {
      return check_failed("authentication", std::string(registry_auth_failed_message));
    }
    if (reply.status != 200) {
      return unexpected(reply, "GET /v2/ with credentials");
    }
    return ok(auth, message);
  }

  connection_check unexpected(const http_reply& reply, const std::string& what) const {
    return check_failed("other", "the registry at " + registry_endpoint_.url + " answered HTTP " +
                                     std::to_string(reply.status) + " to " + what);
  }

  connection_check ok(const std::string& auth, const std::string& message) {
    connection_check c;
    c.ok = true;
    c.message = message;
    c.details.emplace_back("endpoint", registry_endpoint_.url);
    c.details.emplace_back("auth", auth);
    if (!api_version_.empty()) {
      c.details.emplace_back("api_version", api_version_);
    }
    if (!token_service_.empty()) {
      c.details.emplace_back("token_service", token_service_);
    }
    return c;
  }

  // "http://127.0.0.1:5000 (registry/2.0)", noting plain http when the insecure fallback was
  // taken.
  std::string describe() const {
    std::string s = registry_endpoint_.url;
    if (!api_version_.empty()) {
      s += " (" + api_version_ + ")";
    }
    if (fell_back_) {
      s += "; plain http: the registry does not speak TLS";
    }
    return s;
  }
  std::string describe_with(const http_reply& reply) {
    if (const auto v = reply.header("Docker-Distribution-Api-Version"); !v.empty()) {
      api_version_ = std::string(v);
    }
    return describe();
  }

  connection_check scrubbed(connection_check c) const {
    c.message = without_secrets(std::move(c.message), {registry_.password, token_, basic_});
    return c;
  }

  const registry_config& registry_;
  check_deadline deadline_;
  tls_settings tls_;
  std::string basic_;           // "Basic <base64 user:password>", empty when anonymous
  std::string token_;           // the Bearer token, once there is one
  std::string token_service_;   // its host
  std::string api_version_;     // Docker-Distribution-Api-Version
  http_endpoint registry_endpoint_;
  bool fell_back_ = false;      // plain http after https failed (insecure)
};

}  // namespace

std::optional<auth_challenge> parse_auth_challenge(std::string_view h) {
  std::size_t i = 0;
  while (i < h.size() && is_space(h[i])) ++i;
  std::size_t start = i;
  while (i < h.size() && !is_space(h[i]) && h[i] != ',') ++i;
  if (i == start) {
    return std::nullopt;
  }
  auth_challenge c;
  c.scheme = to_lower_ascii(h.substr(start, i - start));
  for (;;) {
    while (i < h.size() && (is_space(h[i]) || h[i] == ',')) ++i;
    start = i;
    while (i < h.size() && h[i] != '=' && !is_space(h[i]) && h[i] != ',') ++i;
    if (i == start) {
      break;
    }
    const std::string key = to_lower_ascii(h.substr(start, i - start));
    std::size_t j = i;
    while (j < h.size() && is_space(h[j])) ++j;
    if (j >= h.size() || h[j] != '=') {
      break;  // the scheme of a second challenge
    }
    i = j + 1;
    while (i < h.size() && is_space(h[i])) ++i;
    std::string value;
    if (i < h.size() && h[i] == '"') {
      for (++i; i < h.size() && h[i] != '"'; ++i) {
        if (h[i] == '\\' && i + 1 < h.size()) {
          ++i;
        }
        value += h[i];
      }
      ++i;  // the closing quote
    } else {
      start = i;
      while (i < h.size() && h[i] != ',' && !is_space(h[i])) ++i;
      value = std::string(h.substr(start, i - start));
    }
    c.params[key] = value;
  }
  return c;
}

std::vector<registry_attempt> registry_attempts(const registry_config& registry) {
  std::string url = registry.url;
  while (url.ends_with('/')) {
    url.pop_back();
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    return {{url, !registry.insecure}};
  }
  const std::string host = to_lower_ascii(url);
  if (host == "docker.io" || host == "index.docker.io") {
    return {{"https://registry-1.docker.io", !registry.insecure}};
  }
  std::vector<registry_attempt> out{{"https://" + url, !registry.insecure}};
  if (registry.insecure) {
    out.push_back({"http://" + url, false});
  }
  return out;
}

std::optional<std::string> bearer_token_of(std::string_view json_body) {
  const auto j = nlohmann::json::parse(json_body, nullptr, false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  for (const char* key : {"token", "access_token"}) {
    if (auto it = j.find(key); it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      return it->get<std::string>();
    }
  }
  return std::nullopt;
}

connection_check probe_registry(const registry_config& registry,
                                std::chrono::milliseconds timeout) {
  registry_login login(registry, timeout);
  return login.run();
}

}  // namespace kiwi
