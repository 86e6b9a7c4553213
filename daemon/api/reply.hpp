#pragma once
// What every API handler works on (docs/api.md): the request reduced to what a handler may
// read (method, path parameters, query, body, the caller's role) and the answer it returns
// (status, JSON or raw body, extra headers), with the checks all handlers share. A handler
// that cannot answer 2xx throws api_error; daemon/api.cpp turns it into {"error","field"}.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/config/config.hpp"
#include "common/config/resources.hpp"
#include "daemon/api.hpp"
#include "daemon/kept_secrets.hpp"

namespace kiwi {

// An API error: becomes {"error": message, "field": field} with the status.
struct api_error {
  unsigned status;
  std::string message;
  std::string field;
  std::chrono::seconds retry_after{0};  // sent as Retry-After when set (429)
};

struct api_request {
  std::string_view method;
  std::vector<std::pair<std::string, std::string>> path_params;  // {"name", "user-api"}
  std::string query;                                             // after '?', still encoded
  std::string_view body;
  api_role role = api_role::viewer;  // the caller's token's
  std::string token_name;            // the caller's token's name ("admin": the admin token file)

  // The path parameter of the route's template ("name" of /services/{name}).
  const std::string& path_param(std::string_view name) const;
  // The query parameter's value, percent-decoded ("feature%2Flogin" is "feature/login");
  // nullopt when absent. '+' stays '+' (git refs may contain it).
  std::optional<std::string> find_query(std::string_view name) const;
  std::string query_or(std::string_view name, std::string fallback = {}) const;
};

struct api_reply {
  unsigned status = 200;
  nlohmann::json body;              // sent as compact JSON, unless raw is set
  std::optional<std::string> raw;   // the body as it is
  std::string content_type;         // empty: application/json
  std::vector<std::pair<std::string, std::string>> headers;
};

inline api_reply ok(nlohmann::json body, unsigned status = 200) {
  return api_reply{status, std::move(body), std::nullopt, {}, {}};
}

// The request body as a JSON object, else 400.
nlohmann::json parse_body(const api_request& req);
// The body as a JSON object, or {} when it is empty (bodies that are optional).
nlohmann::json parse_optional_body(const api_request& req);
// 403 naming both roles unless `have` allows `need`.
void require_role(api_role have, api_role need);
// A Redis failure becomes 503 "try again".
void check(const boost::system::error_code& ec);

// A resource parsed from the API's JSON; field errors become 422 with the field.
template <class Parse>
auto parse_resource(Parse parse, const nlohmann::json& body) {
  parse_context ctx;
  ctx.webhook_secret_required = false;
  try {
    return parse(body, ctx);
  } catch (const field_error& e) {
    throw api_error{422, e.field.empty() ? std::string(e.what()) : e.field + ": " + e.what(),
                    e.field};
  }
}

// The stored secrets a PUT keeps (daemon/kept_secrets.hpp); a secret whose host changed is a
// 422 naming it.
template <class Stored>
void keep_stored_secrets(nlohmann::json& body, const Stored& stored) {
  try {
    keep_secrets(body, stored);
  } catch (const field_error& e) {
    throw api_error{422, e.field + ": " + e.what(), e.field};
  }
}

// What GET adds to a resource: a client may send it back in a PUT.
void strip_read_only(nlohmann::json& body);
nlohmann::json with_source(nlohmann::json j, bool read_only);

// Threads for the handlers' blocking work (libgit2, probes, file removal).
boost::asio::thread_pool& blocking_pool();
// A fresh webhook secret.
std::string random_secret();

// The service, from the config file or the store; 404 when there is none.
boost::asio::awaitable<service_config> existing_service(api_context& ctx, const std::string& name);

}  // namespace kiwi
