#pragma once
// kiwid's REST API (docs/api.md) as JSON calls. An error answer ends the command: 401/403 with
// exit code 5, any other with 1, its "error" and "field" printed as the server wrote them.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/http/http_client.hpp"

namespace kiwi::cli {

// kiwid could not be reached (exit code 4).
using unreachable_error = kiwi::http_unreachable;

struct api_reply {
  unsigned status = 0;
  std::string raw;      // the body as sent, for --output json
  nlohmann::json body;  // parsed; null when the body is not JSON
};

class api_client {
 public:
  explicit api_client(http_client& http) : http_(http) {}

  // `path` is below /api/v1 (e.g. "/services"). Throws command_failure for error statuses.
  api_reply get(const std::string& path);
  api_reply post(const std::string& path, const nlohmann::json& body);
  api_reply put(const std::string& path, const nlohmann::json& body);
  api_reply del(const std::string& path);
  // Any status is returned (the caller looks at the error body itself), except 401/403.
  api_reply call_raw(std::string_view method, const std::string& path,
                     const nlohmann::json* body);

  http_client& http() { return http_; }

 private:
  api_reply call(std::string_view method, const std::string& path, const nlohmann::json* body);
  http_client& http_;
};

// A path segment, percent-encoded.
std::string segment(std::string_view s);

// The command_failure for an error answer: "error: <error> (field: <field>)".
[[noreturn]] void fail_with(const api_reply& reply);

}  // namespace kiwi::cli
