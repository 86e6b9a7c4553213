#include "daemon/kept_secrets.hpp"

#include <nlohmann/json.hpp>

#include "common/security/url_authority.hpp"

namespace kiwi {
namespace {

using json = nlohmann::json;

std::string string_member(const json& body, const char* key) {
  const auto it = body.find(key);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Whether the request leaves the secret to the stored value: absent, or "***" as GET shows it.
bool left_to_stored(const json& body, const char* key) {
  const auto it = body.find(key);
  return it == body.end() || (it->is_string() && *it == "***");
}

// Keeps `stored` under `key` when the request leaves it out and the endpoint stays; throws when
// the endpoint moved. `same` says whether it stayed; `moved` describes the change.
void keep(json& body, const char* key, const std::string& stored, bool same,
          const char* url_field, const std::string& before, const std::string& after) {
  if (!left_to_stored(body, key)) {
    return;  // supplied by the request
  }
  body.erase(key);
  if (stored.empty()) {
    return;
  }
  if (!same) {
    const std::string from = before.empty() ? std::string("its old endpoint") : before;
    const std::string to = after.empty() ? std::string("a new one") : after;
    throw field_error(key, std::string("the host changed (") + url_field + " from " + from +
                               " to " + to + "): send \"" + key +
                               "\" again (or \"\" for none); a kept secret goes only to the "
                               "host it was given for");
  }
  body[key] = stored;
}

// deploy[i].secret_env values sent as "***" keep the stored value of the same environment and
// variable, while the environment stays on the same runtime (a kept secret goes only where it
// was given for).
void keep_deploy_secrets(json& body, const service_config& stored) {
  auto deploy = body.find("deploy");
  if (deploy == body.end() || !deploy->is_array()) {
    return;
  }
  for (std::size_t i = 0; i < deploy->size(); ++i) {
    json& env = (*deploy)[i];
    auto vars = env.is_object() ? env.find("secret_env") : env.end();
    if (!env.is_object() || vars == env.end() || !vars->is_object()) {
      continue;
    }
    const environment_config* old = nullptr;
    for (const auto& e : stored.deploy) {
      if (env.value("name", "") == e.name) {
        old = &e;
      }
    }
    for (auto& [key, value] : vars->items()) {
      if (value != "***") {
        continue;
      }
      const std::string field = "deploy[" + std::to_string(i) + "].secret_env." + key;
      const std::pair<std::string, std::string>* kept = nullptr;
      if (old != nullptr) {
        for (const auto& p : old->secret_env) {
          if (p.first == key) {
            kept = &p;
          }
        }
      }
      if (kept == nullptr) {
        throw field_error(field, "\"***\" keeps a stored value, but this environment has none "
                                 "under that name: send the value");
      }
      if (env.value("runtime", "") != old->runtime) {
        throw field_error(field, "the runtime changed (from " + old->runtime + "): send the "
                                 "value again; a kept secret goes only where it was given for");
      }
      value = kept->second;
    }
  }
}

}  // namespace

void keep_secrets(json& body, const service_config& stored) {
  keep_deploy_secrets(body, stored);
  const std::string url = string_member(body, "git_url");
  const bool same = same_endpoint(stored.git_url, url);
  keep(body, "token", stored.token, same, "git_url", endpoint_of(stored.git_url),
       endpoint_of(url));
  keep(body, "ssh_key", stored.ssh_key, same, "git_url", endpoint_of(stored.git_url),
       endpoint_of(url));
  if (left_to_stored(body, "webhook_secret")) {
    body.erase("webhook_secret");
    if (!stored.webhook_secret.empty()) {
      body["webhook_secret"] = stored.webhook_secret;
    }
  }
}

void keep_secrets(json& body, const registry_config& stored) {
  const std::string url = string_member(body, "url");
  keep(body, "password", stored.password, same_endpoint(stored.url, url), "url",
       endpoint_of(stored.url), endpoint_of(url));
}

void keep_secrets(json& body, const runtime_config& stored) {
  const bool same_type = string_member(body, "type") == stored.type;
  if (stored.type == "kubernetes") {
    const std::string url = string_member(body, "api_url");
    keep(body, "token", stored.token, same_type && same_endpoint(stored.api_url, url),
         "api_url", endpoint_of(stored.api_url), endpoint_of(url));
    return;
  }
  const std::string url = string_member(body, "url");
  const std::string socket = string_member(body, "socket");
  const bool same = same_type && socket == stored.socket &&
                    (url.empty() ? stored.url.empty() : same_endpoint(stored.url, url));
  keep(body, "tls_key", stored.tls_key, same, url.empty() && !socket.empty() ? "socket" : "url",
       stored.url.empty() ? stored.socket : endpoint_of(stored.url),
       url.empty() ? socket : endpoint_of(url));
}

}  // namespace kiwi
