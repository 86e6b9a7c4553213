#pragma once
// The HTTP message types kiwid's handlers work on.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace kiwi {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// A JSON response with the usual headers; keep-alive follows the request.
http_response json_response(const http_request& req, unsigned status, std::string body);
// {"error": message}
http_response error_response(const http_request& req, unsigned status, std::string_view message);

// The response as it goes on the wire (status line, fields, blank line, body), in one buffer:
// the same bytes as Beast's serializer, which hands the kernel one buffer per header line and
// costs more than the send itself for responses this small. Not for chunked responses.
std::string serialize(const http_response& res);

}  // namespace kiwi
