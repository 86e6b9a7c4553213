#pragma once
// docs/openapi.json, written from the route table (daemon/api/routes.cpp) and the schemas,
// parameters, error answers and document header of daemon/api/schemas.json (compiled in).
// `kiwid --print-openapi` prints it; the openapi_generated test checks that the committed
// docs/openapi.json is the same text.

#include <string>

#include <nlohmann/json.hpp>

#include "daemon/api/reply.hpp"

namespace kiwi {

// The document; throws std::logic_error when a route names a tag, schema, parameter or error
// answer that schemas.json lacks, or two routes share an operationId.
nlohmann::ordered_json openapi_json();
// The document as served and committed: two-space indent, a final newline. Built once.
const std::string& openapi_text();

// GET /api/v1/openapi.json
boost::asio::awaitable<api_reply> serve_openapi(const api_request& req, api_context& ctx);

}  // namespace kiwi
