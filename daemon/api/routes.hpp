#pragma once
// The API's one route table: for every (method, path) under /api/v1, the role it needs, the
// handler that answers it and what docs/openapi.json says about it (daemon/api/openapi.cpp
// writes the document from this table and daemon/api/schemas.json). daemon/api.cpp matches a
// request against it in order.

#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "daemon/api/reply.hpp"

namespace kiwi {

using api_handler = boost::asio::awaitable<api_reply> (*)(const api_request&, api_context&);

// One documented answer: a body of schema `schema` (a name in schemas.json's
// components.schemas) as `media`. Several with the same status are one answer in several media.
struct openapi_answer {
  unsigned status;
  std::string_view description;
  std::string_view schema;
  std::string_view media = "application/json";
};

struct openapi_facts {
  std::string_view operation_id;  // unique; what client generators name the call
  std::string_view tag;           // one of schemas.json's tags
  std::string_view summary;
  std::string_view description = {};  // after "Role: <role>."
  std::string_view request = {};      // the body's schema; empty: no body
  bool request_required = true;
  std::vector<std::string_view> parameters = {};  // query and header: components.parameters
  std::vector<openapi_answer> answers = {};       // 2xx, and errors not of the common kind
  // Common error answers (components.responses, by status) the route can give.
  std::vector<unsigned> errors = {400, 401, 403, 404, 409, 422};
};

struct api_route {
  std::string_view method;
  std::string_view path;  // below /api/v1, OpenAPI style: /services/{name}
  api_role role;          // checked before the handler runs
  api_handler handler;    // null: served ahead of the API (daemon/event_stream.cpp)
  openapi_facts doc;
};

// Every route, in the order requests are matched against them.
const std::vector<api_route>& api_routes();

// The path parameters when `path` ("/services/{name}/builds") matches the segments of a
// request's path below /api/v1; nullopt when it does not.
std::optional<std::vector<std::pair<std::string, std::string>>> match_route(
    std::string_view path, const std::vector<std::string>& segments);

}  // namespace kiwi
