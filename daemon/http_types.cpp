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
  return json_response(req, status, answer_json(nlohmann::json{{"error", std::string(message)}}));
}

std::string answer_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string loggable(std::string_view text) {
  std::string out(text.substr(0, 200));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) {
      c = '?';
    }
  }
  if (text.size() > out.size()) {
    out += "...";
  }
  return out;
}

std::string serialize(const http_response& res) {
  std::string out;
  out.reserve(256 + res.body().size());
  out += "HTTP/";
  out += static_cast<char>('0' + res.version() / 10);
  out += '.';
  out += static_cast<char>('0' + res.version() % 10);
  out += ' ';
  out += std::to_string(res.result_int());
  out += ' ';
  out += res.reason();
  out += "\r\n";
  for (const auto& field : res) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  out += res.body();
  return out;
}

}  // namespace kiwi
