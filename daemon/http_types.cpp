#include "daemon/http_types.hpp"

#include <nlohmann/json.hpp>

namespace kiwi {

namespace http = boost::beast::http;

http_response json_response(const http_request& req, unsigned status, std::string body) {
  http_response res{static_cast<http::status>(status), req.version()};
  res.set(http::field::server, "kiwid");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http_response error_response(const http_request& req, unsigned status, std::string_view message) {
  return json_response(req, status, nlohmann::json{{"error", std::string(message)}}.dump());
}

}  // namespace kiwi
