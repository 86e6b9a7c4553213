#include "cli/api_client.hpp"

#include "cli/cli_error.hpp"
#include "common/security/redact.hpp"  // percent_encode

namespace kiwi::cli {

using json = nlohmann::json;

std::string segment(std::string_view s) { return percent_encode(s); }

void fail_with(const api_reply& reply) {
  std::string message;
  if (reply.body.is_object() && reply.body.contains("error") && reply.body["error"].is_string()) {
    message = reply.body["error"].get<std::string>();
    if (reply.body.contains("field") && reply.body["field"].is_string() &&
        !reply.body["field"].get<std::string>().empty()) {
      message += " (field: " + reply.body["field"].get<std::string>() + ")";
    }
  } else {
    std::string text = reply.raw.substr(0, 500);
    message = "kiwid answered HTTP " + std::to_string(reply.status) +
              (text.empty() ? std::string() : ": " + text);
  }
  const bool auth = reply.status == 401 || reply.status == 403;
  throw command_failure(auth ? exit_code::auth : exit_code::api_error, "error: " + message);
}

api_reply api_client::call_raw(std::string_view method, const std::string& path,
                               const json* body) {
  std::string text;
  if (body != nullptr) {
    text = body->dump();
  }
  http_reply r = http_.request(method, "/api/v1" + path, body != nullptr ? &text : nullptr);
  api_reply reply;
  reply.status = r.status;
  reply.raw = std::move(r.body);
  reply.body = json::parse(reply.raw, nullptr, false);
  if (reply.body.is_discarded()) {
    reply.body = nullptr;
  }
  if (reply.status == 401 || reply.status == 403) {
    fail_with(reply);
  }
  return reply;
}

api_reply api_client::call(std::string_view method, const std::string& path, const json* body) {
  api_reply reply = call_raw(method, path, body);
  if (reply.status >= 300) {
    fail_with(reply);
  }
  return reply;
}

api_reply api_client::get(const std::string& path) { return call("GET", path, nullptr); }
api_reply api_client::post(const std::string& path, const json& body) {
  return call("POST", path, &body);
}
api_reply api_client::put(const std::string& path, const json& body) {
  return call("PUT", path, &body);
}
api_reply api_client::del(const std::string& path) { return call("DELETE", path, nullptr); }

}  // namespace kiwi::cli
