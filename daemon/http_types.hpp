#pragma once
// The HTTP message types kiwid's handlers work on.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json_fwd.hpp>

namespace kiwi {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// A JSON response with the usual headers; keep-alive follows the request.
http_response json_response(const http_request& req, unsigned status, std::string body);
// {"error": message}; bytes of the message that are not UTF-8 (an echoed target) become U+FFFD.
http_response error_response(const http_request& req, unsigned status, std::string_view message);
// Compact JSON for an answer: invalid UTF-8 inside strings is replaced, never thrown on.
std::string answer_json(const nlohmann::json& value);
// Request text fit for a log line: at most 200 bytes, anything but printable ASCII as '?'.
std::string loggable(std::string_view text);

// The response as it goes on the wire (status line, fields, blank line, body), in one buffer:
// the same bytes as Beast's serializer, which hands the kernel one buffer per header line and
// costs more than the send itself for responses this small. Not for chunked responses.
std::string serialize(const http_response& res);

}  // namespace kiwi
