#pragma once
// "Test" of an image registry: the Docker Registry HTTP API v2 login flow, as `docker login`
// does it, within a deadline. GET /v2/; on 401 the WWW-Authenticate challenge decides: Basic
// (GET /v2/ again with the credentials) or Bearer (GET the token realm with `service` and
// `scope`, Basic credentials or none, then GET /v2/ with the token). Messages never hold the
// password or a token. Blocking: run it on a blocking pool. docs/api.md describes the choices.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/http/connection_check.hpp"
#include "common/config/resources.hpp"

namespace kiwi {

// Every 401 of the flow (registry or token service) ends with exactly this.
inline constexpr std::string_view registry_auth_failed_message =
    "Registry authentication failed: check the credentials";

// A WWW-Authenticate challenge: `Bearer realm="https://auth.docker.io/token",service="..."`.
struct auth_challenge {
  std::string scheme;                         // lower case: basic, bearer
  std::map<std::string, std::string> params;  // keys in lower case, values unquoted
};
// The first challenge of the header; nullopt when there is none.
std::optional<auth_challenge> parse_auth_challenge(std::string_view header);

// Where GET /v2/ is tried, in order. An http(s):// URL is used as given. docker.io and
// index.docker.io mean https://registry-1.docker.io. A bare host is https://host; with
// `insecure` it is tried with certificate checks off and then as plain http://host, for a
// registry that does not speak TLS. `insecure` also turns certificate checks off for an
// https:// URL and for the token service.
struct registry_attempt {
  std::string base_url;  // https://registry.local:5000
  bool verify_tls = true;
};
std::vector<registry_attempt> registry_attempts(const registry_config& registry);

// The token of a token service's JSON answer: `token`, else `access_token`.
std::optional<std::string> bearer_token_of(std::string_view json_body);

// ok: message says how access was granted ("authenticated with Basic at <url> (registry/2.0)",
// "authenticated with a Bearer token from <realm host> at <url> ...", "anonymous access ...");
// details: endpoint, auth (anonymous, basic, bearer), api_version, token_service.
// Failures (error_kind): authentication (registry_auth_failed_message), unreachable and
// timeout ("Registry unreachable: ..."), certificate, not_found (no v2 API there), other.
connection_check probe_registry(const registry_config& registry,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace kiwi
